import { MtlError, type GradientSite, type Registry, type Weighting, type WeightingLevel } from '@mtljs/core';
import type { BenchmarkOptions } from './options';

/** The weightings the issue names, in its order; every other registered one follows, by name. */
export const NAMED_WEIGHTINGS = ['ew', 'static', 'uncertainty', 'gradnorm', 'pcgrad', 'dwa', 'rlw'] as const;

/** One row of the benchmark: a weighting trained on every task, or a single-task baseline. */
export interface MethodPlan {
  /** Unique within a benchmark: the weighting's name, or `single-<task>`. */
  id: string;
  role: 'multi-task' | 'single-task';
  /** Registered weighting name (a single-task run uses 'ew': its one loss, unweighted). */
  weighting: string;
  level: WeightingLevel;
  /** Gradient site of a gradient-level weighting; null at the loss level. */
  site: GradientSite | null;
  /** The tasks the model is built for and trained on. */
  tasks: string[];
}

function sitesOf(weighting: Weighting<unknown>): readonly GradientSite[] {
  return weighting.level === 'loss' ? [] : weighting.sites;
}

/** Registered weighting names: the seven first, then the others alphabetically. */
export function orderedWeightings(registry: Registry): string[] {
  const registered = registry.list('weighting');
  const named: string[] = NAMED_WEIGHTINGS.filter((name) => registered.includes(name));
  return [...named, ...registered.filter((name) => !named.includes(name)).sort()];
}

/**
 * The runs of one seed: single-task baselines first (one per task), then one multi-task run per
 * weighting. The site is the weighting's first (its default) unless `options.site` names another
 * one it supports.
 */
export function planMethods(options: Pick<BenchmarkOptions, 'weightings' | 'baselines' | 'site'>, tasks: readonly string[], registry: Registry): MethodPlan[] {
  const names = options.weightings === 'all' ? orderedWeightings(registry) : options.weightings;
  const plans: MethodPlan[] = [];
  if (options.baselines) {
    for (const task of tasks) plans.push({ id: `single-${task}`, role: 'single-task', weighting: 'ew', level: 'loss', site: null, tasks: [task] });
  }
  for (const name of names) {
    if (!registry.has('weighting', name)) {
      const available = registry.list('weighting');
      throw new MtlError('UNKNOWN_PLUGIN', `--weightings: no weighting named '${name}' is registered; available: ${available.join(', ')}`, {
        field: 'weightings',
        received: name,
        available,
      });
    }
    const weighting = registry.get('weighting', name) as Weighting<unknown>;
    const sites = sitesOf(weighting);
    const site = sites.length === 0 ? null : options.site !== 'default' && sites.includes(options.site) ? options.site : sites[0]!;
    plans.push({ id: name, role: 'multi-task', weighting: name, level: weighting.level, site, tasks: [...tasks] });
  }
  return plans;
}
