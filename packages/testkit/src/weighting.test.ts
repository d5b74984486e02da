import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, equalWeighting, Rng, staticWeighting, type GramianWeighting, type RngState } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConformanceError } from './errors';
import { gramianEqual, gramianEqualProjection, jacobianMean, logVarianceWeighting } from './test-fixtures';
import { checkWeighting } from './weighting';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function failureOf(promise: Promise<unknown>): Promise<ConformanceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the check should have failed').toBeInstanceOf(ConformanceError);
  return error as ConformanceError;
}

describe('checkWeighting passes good weightings', () => {
  it('equal weighting (loss level), with the properties it has', async () => {
    const before = tf.memory().numTensors;
    const report = await checkWeighting(equalWeighting(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report).toMatchObject({ name: 'ew', level: 'loss', sites: [] });
    expect(report.calls).toBeGreaterThan(50);
    expect(report.checks.join('\n')).toMatch(/permutationInvariant[\s\S]*scaleInvariantWeights/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("equal weighting with reduction 'mean'", async () => {
    await checkWeighting(equalWeighting({ reduction: 'mean' }), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
  });

  it('static weighting, which keys weights by task name', async () => {
    const report = await checkWeighting(staticWeighting({ weights: { task0: 2 }, defaultWeight: 0.5 }), {
      properties: { permutationInvariant: true, scaleInvariantWeights: true },
    });
    expect(report.name).toBe('static');
  });

  it('a loss-level weighting with trainable parameters', async () => {
    const before = tf.memory().numTensors;
    await checkWeighting(logVarianceWeighting(), { properties: { permutationInvariant: true } });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a Gramian weighting (equal weights)', async () => {
    const report = await checkWeighting(gramianEqual(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report).toMatchObject({ level: 'gramian', sites: ['shared', 'features', 'last-shared'] });
  });

  it('a non-conflicting Gramian weighting', async () => {
    const report = await checkWeighting(gramianEqualProjection(), {
      properties: { permutationInvariant: true, nonConflicting: true, scaleInvariantWeights: true },
    });
    expect(report.checks.some((line) => line.startsWith('property nonConflicting'))).toBe(true);
  });

  it('a Jacobian weighting (mean of rows)', async () => {
    const report = await checkWeighting(jacobianMean(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report).toMatchObject({ level: 'jacobian', sites: ['shared', 'features'] });
  });

  it('takes task names for weightings whose options name tasks', async () => {
    const names = ['depth', 'normals', 'segmentation', 'edges', 'keypoints'];
    await checkWeighting(staticWeighting({ weights: { depth: 3 } }), { taskNames: names, properties: { permutationInvariant: true } });
  });
});

describe('checkWeighting fails broken weightings with a clear message', () => {
  it('the wrong number of weights (one per task instead of one per active task)', async () => {
    const error = await failureOf(checkWeighting(gramianEqual({ weigh: (_g, _l, state, info) => ({ weights: info.taskNames.map(() => 1), state }) })));
    expect(error.check).toBe('weights');
    expect(error.message).toMatch(/^weighting 'gramian-equal': weigh\(\) returned \d weights for \d tasks with active \[.*\]; expected \d, one per active task/);
  });

  it('a weights tensor of the wrong shape', async () => {
    const error = await failureOf(checkWeighting(gramianEqual({ weigh: (g, _l, state) => ({ weights: tf.ones([g.shape[0], 1]) as unknown as tf.Tensor1D, state }) })));
    expect(error.message).toMatch(/weights of shape \[\d, 1\].*expected \[\d\]/);
  });

  it('NaN weights', async () => {
    const error = await failureOf(checkWeighting(gramianEqual({ weigh: (g, _l, state) => ({ weights: new Array(g.shape[0]).fill(Number.NaN), state }) })));
    expect(error.check).toBe('weights');
    expect(error.message).toMatch(/non-finite weight \(NaN\) for task 'task0'/);
  });

  it('a non-finite loss', async () => {
    const broken = { ...equalWeighting(), combine: (losses: tf.Tensor1D, state: null) => ({ loss: tf.div(tf.sum(losses), 0) as tf.Scalar, weights: [1], state }) };
    const error = await failureOf(checkWeighting(broken));
    expect(error.check).toBe('loss');
    expect(error.message).toMatch(/non-finite loss \(Infinity\)/);
  });

  it('a loss that is not a scalar', async () => {
    const broken = { ...equalWeighting(), combine: (losses: tf.Tensor1D, state: null) => ({ loss: losses as unknown as tf.Scalar, weights: [1], state }) };
    const error = await failureOf(checkWeighting(broken));
    expect(error.message).toMatch(/scalar tensor as `loss`.*got shape \[1\]/);
  });

  it('an update of the wrong size', async () => {
    const error = await failureOf(checkWeighting(jacobianMean({ aggregate: (j, _l, state) => ({ update: tf.mean(j, 1) as tf.Tensor1D, state }) })));
    expect(error.check).toBe('update');
    expect(error.message).toMatch(/Tensor1D of shape \[8\]/);
  });

  it('a tensor in the state', async () => {
    const broken: GramianWeighting<unknown> = gramianEqual({
      init: () => ({ previous: null }),
      weigh: (g: tf.Tensor2D) => ({ weights: new Array(g.shape[0]).fill(1), state: { previous: tf.zeros([1]) } }),
    } as unknown as Partial<GramianWeighting<null>>) as GramianWeighting<unknown>;
    const error = await failureOf(checkWeighting(broken));
    expect(error.check).toBe('state-json');
    expect(error.message).toMatch(/state\.previous is a tf\.Tensor/);
  });

  it('a Map in the initial state', async () => {
    const broken = { ...gramianEqual(), init: () => ({ history: new Map<string, number>() }) } as unknown as GramianWeighting<unknown>;
    const error = await failureOf(checkWeighting(broken));
    expect(error.check).toBe('state-json');
    expect(error.message).toMatch(/init\(\) for 1 task returned a state that is not JSON: state\.history is a Map/);
  });

  it('NaN or undefined in the state', async () => {
    const nan = { ...gramianEqual(), init: () => ({ ratio: Number.NaN }) } as unknown as GramianWeighting<unknown>;
    expect((await failureOf(checkWeighting(nan))).message).toMatch(/state\.ratio is NaN, which JSON writes as null/);
    const missing = gramianEqual({ weigh: (g) => ({ weights: new Array(g.shape[0]).fill(1) }) as never });
    expect((await failureOf(checkWeighting(missing))).message).toMatch(/returned no `state`/);
  });

  it('a leaking weighting (keeps a tensor made outside a tidy)', async () => {
    const kept: tf.Tensor[] = [];
    const leaking = gramianEqual({
      name: 'leaky',
      weigh: (g, _l, state) => {
        kept.push(tf.ones([g.shape[0]]));
        return { weights: new Array(g.shape[0]).fill(1), state };
      },
    });
    const error = await failureOf(checkWeighting(leaking));
    expect(error.check).toBe('leak');
    expect(error.message).toMatch(/^weighting 'leaky' weigh\(\): leaked 50 tensors over 50 steps \(1 per step/);
    tf.dispose(kept);
  });

  it('a weighting that disposes its input', async () => {
    const error = await failureOf(
      checkWeighting(
        gramianEqual({
          weigh: (g, _l, state) => {
            g.dispose();
            return { weights: [1], state };
          },
        }),
      ),
    );
    expect(error.check).toBe('inputs');
    expect(error.message).toMatch(/disposed the Gramian it was given/);
  });

  it('hidden state between calls', async () => {
    let calls = 0;
    const error = await failureOf(checkWeighting(gramianEqual({ weigh: (g, _l, state) => ({ weights: new Array(g.shape[0]).fill(++calls), state }) })));
    expect(error.check).toBe('pure');
    expect(error.message).toMatch(/same inputs and state gave different results/);
  });

  it('a state mutated in place', async () => {
    const mutating = {
      ...gramianEqual(),
      init: () => ({ count: 0 }),
      weigh: (g: tf.Tensor2D, _l: tf.Tensor1D, state: { count: number }) => {
        state.count += 1;
        return { weights: new Array(g.shape[0]).fill(1), state };
      },
    } as unknown as GramianWeighting<unknown>;
    const error = await failureOf(checkWeighting(mutating));
    expect(error.message).toMatch(/changed the state object it was given/);
  });

  it('a weighting that throws', async () => {
    const error = await failureOf(
      checkWeighting(
        gramianEqual({
          weigh: (g) => {
            if (g.shape[0] === 2) throw new Error('not for two');
            return { weights: new Array(g.shape[0]).fill(1), state: null };
          },
        }),
      ),
    );
    expect(error.check).toBe('call');
    expect(error.message).toMatch(/weigh\(\) threw for \d tasks with active \[.*\]: not for two/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('an incompatible apiVersion, a wrong kind, a bad site', async () => {
    expect((await failureOf(checkWeighting(gramianEqual({ apiVersion: 99 })))).message).toMatch(/register refuses it: .*apiVersion 99/);
    expect((await failureOf(checkWeighting({ ...gramianEqual(), kind: 'sharing' } as never))).message).toMatch(/kind must be 'weighting'/);
    expect((await failureOf(checkWeighting(gramianEqual({ name: '' })))).message).toMatch(/name must be a non-empty string/);
    expect((await failureOf(checkWeighting(jacobianMean({ sites: ['last-shared' as never] })))).message).toMatch(/site "last-shared" is not one of shared, features/);
    expect((await failureOf(checkWeighting(gramianEqual({ sites: [] })))).message).toMatch(/must declare its sites/);
  });
});

describe('checkWeighting tests exactly the properties claimed', () => {
  it('permutation invariance, when positional weights claim it', async () => {
    const positional = gramianEqual({ name: 'positional', weigh: (g, _l, state) => ({ weights: Array.from({ length: g.shape[0] }, (_, i) => i + 1), state }) });
    await checkWeighting(positional);
    const error = await failureOf(checkWeighting(positional, { properties: { permutationInvariant: true } }));
    expect(error.check).toBe('permutation-invariant');
    expect(error.message).toMatch(/claims permutationInvariant, but for 2 tasks permuted by \[1, 0\] the weights are \[1, 2\], expected \[2, 1\]/);
  });

  it('non-conflict, when equal weights claim it', async () => {
    const error = await failureOf(checkWeighting(gramianEqual(), { properties: { nonConflicting: true } }));
    expect(error.check).toBe('non-conflicting');
    expect(error.message).toMatch(/conflicts with task 'task\d': G·w = \[.*\] \(must be ≥ 0\)/);
    const jacobian = await failureOf(checkWeighting(jacobianMean(), { properties: { nonConflicting: true } }));
    expect(jacobian.message).toMatch(/J·update = /);
  });

  it('scale invariance, when weights from diag(G) claim it', async () => {
    const diagonal = gramianEqual({ name: 'diagonal', weigh: (g, _l, state) => ({ weights: g.arraySync().map((row, i) => row[i]!), state }) });
    await checkWeighting(diagonal, { properties: { permutationInvariant: true } });
    const error = await failureOf(checkWeighting(diagonal, { properties: { scaleInvariantWeights: true } }));
    expect(error.check).toBe('scale-invariant');
    expect(error.message).toMatch(/with G × 0\.1 the weights are/);
  });

  it('refuses nonConflicting for a loss-level weighting', async () => {
    await expect(checkWeighting(equalWeighting(), { properties: { nonConflicting: true } })).rejects.toThrow(/nonConflicting applies to gramian and jacobian/);
  });
});

describe('checkWeighting: deterministic under a seed', () => {
  // Random weights w = normalised uniforms from an Rng seeded by the context and kept in the state.
  const randomGramian = (seeded: boolean): GramianWeighting<{ rng: RngState }> => ({
    kind: 'weighting',
    name: seeded ? 'random-seeded' : 'random-fixed',
    apiVersion: API_VERSION,
    level: 'gramian',
    sites: ['shared'],
    init: (context) => ({ rng: Rng.fromSeed(seeded ? context.seed : 123).state() }),
    weigh: (gramian, _losses, state) => {
      const rng = Rng.fromState(state.rng);
      const weights = Array.from({ length: gramian.shape[0] }, () => rng.uniform(0.5, 1.5));
      return { weights, state: { rng: rng.state() } };
    },
  });

  it('passes a random weighting that draws from the seed, with seedDependent claimed', async () => {
    const report = await checkWeighting(randomGramian(true), { properties: { seedDependent: true } });
    expect(report.checks).toContain('property seedDependent: another seed gives another run');
  });

  it('fails a weighting that claims seedDependent but ignores the seed', async () => {
    const error = await failureOf(checkWeighting(randomGramian(false), { properties: { seedDependent: true } }));
    expect(error.check).toBe('seeded');
    expect(error.message).toMatch(/identical outputs/);
  });
});
