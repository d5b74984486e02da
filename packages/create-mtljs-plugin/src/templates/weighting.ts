import type { TemplateContext } from './common';

// The generated code avoids template literals so that it can live in these template strings
// without escaping.

export function weightingSource({ name, factory }: TemplateContext): string {
  return `import { API_VERSION, checkOptions, MtlError, type GramianWeighting } from '@mtljs/core';

export interface ${capital(factory)}Options {
  /** Added to each squared gradient norm before the square root, so a zero gradient gets a finite weight (default 1e-12). */
  epsilon?: number;
}

/**
 * TODO: replace this example rule with your own, and say in README.md exactly what it computes.
 *
 * Example rule, gradient normalisation to the mean norm: with n_t = sqrt(G_tt + epsilon) the norm
 * of task t's gradient and n̄ the mean of n over the active tasks, w_t = n̄ / n_t. Every task's
 * gradient then enters the update Σ_t w_t g_t with the same length n̄. G is the Gramian of the
 * active tasks' gradients at the site the trainer is told to use.
 */
export function ${factory}(options: ${capital(factory)}Options = {}): GramianWeighting<null> {
  checkOptions("weighting '${name}'", options, ['epsilon']);
  const epsilon = options.epsilon ?? 1e-12;
  if (!(typeof epsilon === 'number' && epsilon > 0 && Number.isFinite(epsilon))) {
    throw new MtlError('BAD_CONFIG', "weighting '${name}': epsilon must be a finite number > 0, got " + String(epsilon));
  }
  return {
    kind: 'weighting',
    name: '${name}',
    apiVersion: API_VERSION,
    level: 'gramian',
    // The first site is the default; this rule only needs G, so every site works.
    sites: ['shared', 'features', 'last-shared'],
    configure: (next) => ${factory}(next as ${capital(factory)}Options),
    // No state: the rule depends on this step's Gramian only. A rule with memory keeps it here,
    // as plain JSON, and returns the next state instead of changing the one it was given.
    init: () => null,
    weigh(gramian, _losses, state) {
      // T×T with T the number of active tasks: small, so it is read back and worked on as numbers.
      const rows = gramian.arraySync();
      const norms = rows.map((row, t) => Math.sqrt(Math.max(row[t] ?? 0, 0) + epsilon));
      const meanNorm = norms.reduce((sum, norm) => sum + norm, 0) / norms.length;
      return { weights: norms.map((norm) => meanNorm / norm), state };
    },
  };
}
`;
}

export function weightingTest({ name, factory }: TemplateContext): string {
  return `import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError } from '@mtljs/core';
import { hardSharing } from '@mtljs/sharing-hard';
import { checkWeighting, trainerSmokeCheck, thrownBy } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { ${factory} } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe("weighting '${name}'", () => {
  it('passes the testkit conformance suite with the properties it claims', async () => {
    // Claim only what the rule really has: each claimed property is checked.
    const report = await checkWeighting(${factory}(), {
      properties: { permutationInvariant: true, scaleInvariantWeights: true },
    });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains with the real engine at every site it declares', async () => {
    const report = await trainerSmokeCheck(hardSharing(), ${factory}());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'features', 'last-shared']);
    for (const run of report.runs) expect(run.lastLoss).toBeLessThan(run.firstLoss);
  });

  it('gives the weights its README states on a small Gramian', () => {
    // Gradient norms 1 and 3: mean norm 2, so the weights are 2/1 and 2/3.
    const gramian = tf.tensor2d([[1, 0], [0, 9]]);
    const losses = tf.tensor1d([1, 1]);
    const plugin = ${factory}();
    const info = { step: 0, epoch: 0, taskNames: ['a', 'b'], activeTasks: ['a', 'b'], activeIndices: [0, 1], site: 'shared' as const };
    const result = plugin.weigh(gramian, losses, plugin.init({ taskNames: ['a', 'b'], seed: 0 }), info);
    const weights = Array.from(result.weights as readonly number[]);
    expect(weights[0]).toBeCloseTo(2, 6);
    expect(weights[1]).toBeCloseTo(2 / 3, 6);
    gramian.dispose();
    losses.dispose();
  });

  it('registers under its name and refuses unknown options', () => {
    const registry = createRegistry();
    registry.register(${factory}());
    expect(registry.list('weighting')).toContain('${name}');
    const error = thrownBy(() => ${factory}({ alpha: 1 } as never));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
  });
});
`;
}

export function capital(identifier: string): string {
  return identifier.charAt(0).toUpperCase() + identifier.slice(1);
}
