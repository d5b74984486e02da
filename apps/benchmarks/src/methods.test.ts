import { defaultRegistry, isMtlError } from 'mtljs';
import { describe, expect, it } from 'vitest';
import { NAMED_WEIGHTINGS, orderedWeightings, planMethods } from './methods';

const TASKS = ['left', 'right'];
const registry = defaultRegistry();

describe('planMethods', () => {
  it('plans every registered weighting, the issue’s seven first, after one single-task run per task', () => {
    const plans = planMethods({ weightings: 'all', baselines: true, site: 'default' }, TASKS, registry);
    const registered = registry.list('weighting');
    expect(registered.length).toBeGreaterThanOrEqual(7);
    expect(plans.map((p) => p.id)).toEqual(['single-left', 'single-right', ...orderedWeightings(registry)]);
    expect(plans.slice(2, 9).map((p) => p.id)).toEqual([...NAMED_WEIGHTINGS]);
    expect(new Set(plans.slice(2).map((p) => p.id))).toEqual(new Set(registered));
    expect(plans[0]).toMatchObject({ role: 'single-task', weighting: 'ew', tasks: ['left'], site: null });
    for (const plan of plans.slice(2)) expect(plan.tasks).toEqual(TASKS);
  });

  it('takes each gradient weighting’s first site, none for loss weightings', () => {
    const plans = Object.fromEntries(planMethods({ weightings: ['ew', 'uncertainty', 'pcgrad', 'gradnorm', 'graddrop'], baselines: false, site: 'default' }, TASKS, registry).map((p) => [p.id, p]));
    expect(plans.ew).toMatchObject({ level: 'loss', site: null });
    expect(plans.uncertainty).toMatchObject({ level: 'loss', site: null });
    expect(plans.pcgrad).toMatchObject({ level: 'gramian', site: 'shared' });
    expect(plans.gradnorm).toMatchObject({ level: 'gramian', site: 'last-shared' });
    expect(plans.graddrop).toMatchObject({ level: 'jacobian', site: 'features' });
  });

  it('applies --site where the weighting supports it and keeps the default elsewhere', () => {
    const plans = planMethods({ weightings: ['pcgrad', 'graddrop', 'ew'], baselines: false, site: 'last-shared' }, TASKS, registry);
    // PCGrad and GradDrop offer no 'last-shared'.
    expect(plans.map((p) => p.site)).toEqual(['shared', 'features', null]);
    const features = planMethods({ weightings: ['pcgrad', 'gradnorm'], baselines: false, site: 'features' }, TASKS, registry);
    expect(features.map((p) => p.site)).toEqual(['features', 'features']);
  });

  it('refuses an unknown weighting with UNKNOWN_PLUGIN listing the registered ones', () => {
    let caught: unknown;
    try {
      planMethods({ weightings: ['ew', 'pcgard'], baselines: true, site: 'default' }, TASKS, registry);
    } catch (error) {
      caught = error;
    }
    expect(isMtlError(caught, 'UNKNOWN_PLUGIN')).toBe(true);
    expect((caught as Error).message).toMatch(/--weightings: no weighting named 'pcgard' is registered; available: .*pcgrad/);
  });
});
