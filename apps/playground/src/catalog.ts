import { disposeBatch, type Backend, type Batch, type GradientSite, type ModelSpec, type Registry, type SharingStrategy, type TaskSpec, type Weighting } from '@mtljs/core';
import type { PlaygroundSettings } from './settings';

const ALL_SITES: readonly GradientSite[] = ['shared', 'last-shared', 'features'];

/** A plugin the page offers, and whether it can be picked here (with why, either way). */
export interface Choice {
  name: string;
  usable: boolean;
  reason: string;
}

export interface WeightingChoice extends Choice {
  level: Weighting['level'];
  /** Sites it supports, its default first; empty for loss-level weightings. */
  sites: GradientSite[];
}

export interface BackendChoice extends Choice {
  priority: number;
}

/** The model the playground builds: an MLP encoder (template of each tower or expert) and MLP heads. */
export function modelSpec(settings: Pick<PlaygroundSettings, 'encoderUnits' | 'headUnits'>, tasks: readonly TaskSpec[], inputShape: readonly number[]): ModelSpec {
  return {
    tasks,
    inputShape,
    encoder: { type: 'mlp', units: [...settings.encoderUnits] },
    ...(settings.headUnits.length > 0 ? { head: { type: 'mlp' as const, units: [...settings.headUnits] } } : {}),
  };
}

/** What a sharing strategy may need from the data to be built. */
export interface SharingContext {
  tasks: readonly TaskSpec[];
  /** Training batches for strategies that warm up on data before they are built. */
  warmupBatches: () => Batch[];
  /** Steps of such a warm-up. */
  warmupSteps: number;
}

/**
 * Options the playground gives a strategy whose defaults cannot build a model on their own;
 * every other strategy gets its defaults. The clustered strategy needs its groups, so it gets a
 * warm-up on training batches that finds at most two (Fifty et al. 2021's affinity).
 */
const SHARING_PRESETS: Record<string, (context: SharingContext) => Record<string, unknown>> = {
  clustered: (context) => ({
    groups: Math.min(2, context.tasks.length),
    warmup: { batches: context.warmupBatches(), steps: context.warmupSteps },
  }),
};

/** The sharing strategy named, configured with the playground's options for it (if any). */
export function configuredSharing(registry: Registry, name: string, context: SharingContext): SharingStrategy {
  const preset = SHARING_PRESETS[name];
  return preset ? registry.resolve('sharing', { name, options: preset(context) }) : registry.get('sharing', name);
}

/**
 * Every registered sharing strategy, usable when it builds a model for this spec: a strategy that
 * needs another encoder (MTAN needs a convolutional one) is listed with the builder's reason.
 * Each model built for the check is disposed at once; the warm-up batches too.
 */
export function sharingChoices(registry: Registry, spec: ModelSpec, context: Omit<SharingContext, 'warmupSteps'>): Choice[] {
  return registry.plugins('sharing').map((plugin) => {
    const batches: Batch[] = [];
    const checkContext: SharingContext = {
      tasks: context.tasks,
      warmupBatches: () => {
        batches.push(...context.warmupBatches());
        return batches;
      },
      warmupSteps: 1,
    };
    try {
      const model = configuredSharing(registry, plugin.name, checkContext).build(spec, { seed: 0 });
      model.dispose();
      const sites = plugin.sites ? `; gradient sites: ${plugin.sites.join(', ')}` : '';
      return { name: plugin.name, usable: true, reason: `builds a model for this dataset${sites}` };
    } catch (error) {
      return { name: plugin.name, usable: false, reason: (error as Error).message };
    } finally {
      for (const batch of batches) disposeBatch(batch);
    }
  });
}

/** Every registered weighting with its level and sites. */
export function weightingChoices(registry: Registry): WeightingChoice[] {
  return registry.plugins('weighting').map((plugin) => {
    const sites = plugin.level === 'loss' ? [] : [...plugin.sites];
    const reason = plugin.level === 'loss' ? 'loss level: weights the task losses' : `${plugin.level} level; sites ${sites.join(', ')} (default ${sites[0]})`;
    return { name: plugin.name, usable: true, level: plugin.level, sites, reason };
  });
}

/**
 * The sites a gradient-level weighting can use with a strategy: the weighting's (its default
 * first) that the strategy also supports (every site, when it declares none). Empty for a
 * loss-level weighting, which has no site.
 */
export function siteChoices(weighting: WeightingChoice, sharing: SharingStrategy | undefined): GradientSite[] {
  const supported = sharing?.sites ?? ALL_SITES;
  return weighting.sites.filter((site) => supported.includes(site));
}

/** Every backend with `isAvailable()`'s answer; a check that throws counts as unavailable, with its message. */
export async function backendChoices(backends: readonly Backend[]): Promise<BackendChoice[]> {
  return Promise.all(
    backends.map(async (backend) => {
      try {
        const answer = await backend.isAvailable();
        return { name: backend.name, usable: answer.available, reason: answer.reason, priority: answer.priority ?? backend.priority };
      } catch (error) {
        return { name: backend.name, usable: false, reason: `isAvailable() failed: ${(error as Error).message}`, priority: backend.priority };
      }
    }),
  );
}
