import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  MtlError,
  createRegistry,
  Rng,
  type GradientSite,
  type StepInfo,
  type TaskKind,
  type Weighting,
  type WeightingContext,
  type WeightingLevel,
} from '@mtljs/core';
import { ConformanceError, messageOf } from './errors';
import { jsonEqual, jsonRoundTripProblem } from './json';
import { checkNoLeak } from './leak';
import {
  formatNumbers,
  gramianOf,
  JACOBIAN_COLUMNS,
  matVec,
  maxAbs,
  movingPermutation,
  randomProblem,
  randomSubset,
  relativeGap,
  taskNamePool,
  type WeightingProblem,
} from './synthetic';

/** Properties a weighting may claim; each is checked only when claimed (torchjd's rule). */
export interface WeightingProperties {
  /** Permuting the tasks (names, losses, rows of G or J) permutes the weights the same way. */
  permutationInvariant?: boolean;
  /** Gramian level: G·w ≥ 0 elementwise (J·update ≥ 0); Jacobian level: J·update ≥ 0. */
  nonConflicting?: boolean;
  /**
   * Weights unchanged when the input is multiplied by c > 0: G (gramian), J (jacobian; the
   * update then scales by c) or the losses (loss level).
   */
  scaleInvariantWeights?: boolean;
  /** A random weighting (PCGrad's order, RLW's draws): runs from two different seeds differ. */
  seedDependent?: boolean;
}

/** Options of `checkWeighting`. */
export interface WeightingCheckOptions {
  /** The properties the weighting claims; only these are checked (default: none). */
  properties?: WeightingProperties;
  /** Seed of the synthetic inputs and of the weighting's context (default 0). */
  seed?: number;
  /** Task counts to try (default [1, 2, 3, 5]). */
  taskCounts?: readonly number[];
  /**
   * Task names to use, at least as many as the largest task count and at least 3 (default task0, task1, …);
   * for weightings whose options name tasks.
   */
  taskNames?: readonly string[];
  /** Kind of every task in the context's task specs (default 'regression'). */
  taskKind?: TaskKind;
  /** Calls counted by the leak check (default 50). */
  leakSteps?: number;
  /** Relative tolerance of the property comparisons (default 1e-4). */
  tolerance?: number;
}

/** What `checkWeighting` checked when every assertion held. */
export interface WeightingCheckReport {
  /** The weighting's name. */
  name: string;
  /** The weighting's level: `'loss'`, `'gramian'` or `'jacobian'`. */
  level: WeightingLevel;
  /** Declared gradient sites ([] at the loss level). */
  sites: GradientSite[];
  /** Calls made to combine / weigh / aggregate. */
  calls: number;
  /** What was checked, one line each. */
  checks: string[];
}

interface Outcome {
  weights: number[] | null;
  loss: number | null;
  update: number[] | null;
  state: unknown;
}

interface CallSettings {
  step: number;
  site: GradientSite | null;
  /** Multiplies the losses (loss level), G (gramian) or J (jacobian). */
  scale?: number;
  params?: Record<string, Variable>;
}

const LEVELS: readonly WeightingLevel[] = ['loss', 'gramian', 'jacobian'];
const SITES: readonly GradientSite[] = ['shared', 'last-shared', 'features'];
let parameterScopes = 0;

/**
 * The conformance suite every weighting must pass, plus the properties it claims. Throws a
 * ConformanceError naming the first failed assertion; returns what was checked. See README.md
 * for the exact list.
 *
 * @throws `ConformanceError` (with the failed check's name in `check`) at the first assertion that
 * fails; MtlError `BAD_CONFIG` when `taskCounts` holds a value that is not a positive integer,
 * `taskNames` is too short, or `nonConflicting` is claimed by a loss-level weighting.
 */
export async function checkWeighting(weighting: Weighting<any>, options: WeightingCheckOptions = {}): Promise<WeightingCheckReport> {
  const subject = `weighting '${typeof weighting?.name === 'string' && weighting.name ? weighting.name : '?'}'`;
  const fail = (check: string, message: string, cause?: unknown): never => {
    throw new ConformanceError(subject, check, message, cause === undefined ? undefined : { cause });
  };
  const seed = options.seed ?? 0;
  const taskCounts = [...(options.taskCounts ?? [1, 2, 3, 5])];
  const tolerance = options.tolerance ?? 1e-4;
  const leakSteps = options.leakSteps ?? 50;
  const properties = options.properties ?? {};
  const maxTasks = Math.max(...taskCounts, 3);
  const pool = [...(options.taskNames ?? taskNamePool(maxTasks))];
  if (taskCounts.some((count) => !Number.isInteger(count) || count < 1)) {
    throw new MtlError('BAD_CONFIG', `checkWeighting: taskCounts must be positive integers, got [${taskCounts.join(', ')}]`);
  }
  if (pool.length < maxTasks) {
    throw new MtlError('BAD_CONFIG', `checkWeighting: taskNames needs at least ${maxTasks} names, got ${pool.length}`);
  }

  const checks: string[] = [];
  const sites = checkPluginShape(weighting, fail);
  const level = weighting.level;
  checks.push(`plugin: kind 'weighting', name '${weighting.name}', apiVersion ${weighting.apiVersion} accepted by createRegistry().register`);
  checks.push(level === 'loss' ? `level 'loss'` : `level '${level}', sites [${sites.join(', ')}] valid for the level`);
  if (level === 'loss' && properties.nonConflicting) {
    throw new MtlError('BAD_CONFIG', `checkWeighting: nonConflicting applies to gramian and jacobian weightings; ${subject} works on losses`);
  }

  const rng = Rng.fromSeed(seed);
  let calls = 0;
  const taskKind = options.taskKind ?? 'regression';
  const specsFor = (names: readonly string[]) => names.map((name) => ({ name, kind: taskKind, units: 1 }));
  const contextFor = (names: string[]): WeightingContext => ({ taskNames: names, tasks: specsFor(names), seed });
  const siteAt = (k: number): GradientSite | null => (sites.length ? sites[k % sites.length]! : null);

  const init = (context: WeightingContext): unknown => {
    let state: unknown;
    try {
      state = weighting.init(context);
    } catch (error) {
      fail('init', `init() threw for tasks [${context.taskNames.join(', ')}]: ${messageOf(error)}`, error);
    }
    const problem = jsonRoundTripProblem(state, 'state');
    if (problem) fail('state-json', `init() for ${context.taskNames.length} task${context.taskNames.length === 1 ? '' : 's'} returned a state that is not JSON: ${problem}`);
    return state;
  };

  const call = (problem: WeightingProblem, state: unknown, settings: CallSettings): Outcome => {
    calls += 1;
    const outcome = callOnce(weighting, problem, state, settings, fail);
    const issue = jsonRoundTripProblem(outcome.state, 'state');
    if (issue) fail('state-json', `the state returned by ${callName(weighting)} ${describeCall(problem)} is not JSON: ${issue}`);
    return outcome;
  };

  // Loss-level parameters become variables the way the engine creates them; `dispose` frees them.
  const withParams = <T>(context: WeightingContext, body: (params: Record<string, Variable> | undefined) => T): T => {
    const params = createParams(weighting, context, fail);
    try {
      return body(params);
    } finally {
      if (params) Object.values(params).forEach((v) => v.dispose());
    }
  };

  // Shape and finiteness over task counts and active subsets, threading the state.
  for (const count of taskCounts) {
    const names = pool.slice(0, count);
    const context = contextFor(names);
    let state = init(context);
    const all = names.map((_, i) => i);
    const activeSets = count === 1 ? [all, all, all] : [all, randomSubset(rng, count), all, randomSubset(rng, count)];
    withParams(context, (params) => {
      activeSets.forEach((active, k) => {
        state = call(randomProblem(rng, names, active), state, { step: k, site: siteAt(k), params }).state;
      });
    });
  }
  checks.push(`init() state survives a JSON round trip for ${taskCounts.join(', ')} tasks`);
  checks.push(
    `outputs finite and shaped (${level === 'loss' ? 'scalar loss, ' : level === 'jacobian' ? `[${JACOBIAN_COLUMNS}] update, ` : ''}one weight per active task) ` +
      `for ${taskCounts.join(', ')} tasks, all and a subset active; every returned state is JSON; inputs are not disposed`,
  );

  // Purity: no hidden state, no in-place mutation, so a checkpoint of the state is all there is.
  {
    const names = pool.slice(0, 3);
    const context = contextFor(names);
    const first = init(context);
    const second = init(context);
    if (!jsonEqual(first, second)) fail('pure', `init() returned different states for the same context: ${JSON.stringify(first)} vs ${JSON.stringify(second)}`);
    const snapshot = JSON.stringify(first);
    const problem = randomProblem(rng, names, [0, 1, 2]);
    withParams(context, (params) => {
      const settings = { step: 0, site: siteAt(0), params };
      const a = call(problem, first, settings);
      if (JSON.stringify(first) !== snapshot) fail('pure', `${callName(weighting)} changed the state object it was given; return a new state instead of mutating it`);
      const b = call(problem, first, settings);
      const same =
        sameNumbers(a.weights, b.weights) && sameNumbers(a.update, b.update) && sameNumbers(a.loss === null ? null : [a.loss], b.loss === null ? null : [b.loss]);
      if (!same || !jsonEqual(a.state, b.state)) {
        fail(
          'pure',
          `two calls with the same inputs and state gave different results (weights ${formatNumbers(a.weights ?? [])} vs ${formatNumbers(b.weights ?? [])}); ` +
            'keep everything that changes between calls in the returned state, and draw randomness from an Rng stored in it',
        );
      }
    });
  }
  checks.push('pure: init() depends on its context only; the same inputs and state give the same outputs and next state; the given state is not mutated');

  // Deterministic under a seed: a run of calls from init(seed) repeats exactly; with
  // `seedDependent` claimed (random weightings), another seed must change the run.
  {
    const names = pool.slice(0, 3);
    const problems = [randomProblem(rng, names, [0, 1, 2]), randomProblem(rng, names, [0, 2]), randomProblem(rng, names, [0, 1, 2])];
    const run = (runSeed: number): number[][] => {
      const context: WeightingContext = { taskNames: names, tasks: specsFor(names), seed: runSeed };
      let state = init(context);
      return withParams(context, (params) =>
        Array.from({ length: 6 }, (_, k) => {
          const outcome = call(problems[k % problems.length]!, state, { step: k, site: siteAt(k), params });
          state = outcome.state;
          return [...(outcome.weights ?? []), ...(outcome.update ?? []), ...(outcome.loss === null ? [] : [outcome.loss])];
        }),
      );
    };
    const first = run(seed);
    const again = run(seed);
    if (!first.every((values, k) => sameNumbers(values, again[k]!))) {
      fail('seeded', 'two runs of 6 calls from init() with the same seed gave different outputs');
    }
    checks.push('deterministic under a seed: 6 calls from init(seed) repeat exactly');
    if (properties.seedDependent) {
      const other = run(seed + 1);
      if (first.every((values, k) => sameNumbers(values, other[k]!))) {
        fail('seeded', `property seedDependent: runs from seeds ${seed} and ${seed + 1} gave identical outputs; the randomness does not come from the seed`);
      }
      checks.push('property seedDependent: another seed gives another run');
    }
  }

  // Leaks, over calls alternating all and some tasks active.
  {
    const names = pool.slice(0, 3);
    const context = contextFor(names);
    let state = init(context);
    const problems = [randomProblem(rng, names, [0, 1, 2]), randomProblem(rng, names, [0, 2]), randomProblem(rng, names, [1])];
    const params = createParams(weighting, context, fail);
    try {
      await checkNoLeak(
        (i) => {
          state = call(problems[i % problems.length]!, state, { step: i, site: siteAt(i), params }).state;
        },
        { steps: leakSteps, warmup: 1, label: `${subject} ${callName(weighting)}` },
      );
    } finally {
      if (params) Object.values(params).forEach((v) => v.dispose());
    }
  }
  checks.push(`no tensor leak over ${leakSteps} calls (after 1 warm-up)`);

  if (properties.permutationInvariant) {
    for (const count of taskCounts.filter((c) => c >= 2)) {
      const names = pool.slice(0, count);
      const problem = randomProblem(rng, names, names.map((_, i) => i));
      const permutation = movingPermutation(rng, count);
      const permutedNames = permutation.map((i) => names[i]!);
      const permuted: WeightingProblem = {
        names: permutedNames,
        active: problem.active,
        losses: permutation.map((i) => problem.losses[i]!),
        jacobian: permutation.map((i) => problem.jacobian[i]!),
      };
      const original = withParams(contextFor(names), (params) => call(problem, init(contextFor(names)), { step: 0, site: siteAt(0), params }));
      const moved = withParams(contextFor(permutedNames), (params) =>
        call(permuted, init(contextFor(permutedNames)), { step: 0, site: siteAt(0), params }),
      );
      const where = `for ${count} tasks permuted by [${permutation.join(', ')}]`;
      if (original.weights && moved.weights) {
        const expected = permutation.map((i) => original.weights![i]!);
        if (relativeGap(moved.weights, expected) > tolerance) {
          fail('permutation-invariant', `claims permutationInvariant, but ${where} the weights are ${formatNumbers(moved.weights)}, expected ${formatNumbers(expected)}`);
        }
      }
      if (original.loss !== null && moved.loss !== null && relativeGap([moved.loss], [original.loss]) > tolerance) {
        fail('permutation-invariant', `claims permutationInvariant, but ${where} the loss changed from ${original.loss} to ${moved.loss}`);
      }
      if (original.update && moved.update && relativeGap(moved.update, original.update) > tolerance) {
        fail('permutation-invariant', `claims permutationInvariant, but ${where} the update changed from ${formatNumbers(original.update)} to ${formatNumbers(moved.update)}`);
      }
    }
    checks.push('property permutationInvariant: permuting tasks permutes the weights (and leaves the loss or update unchanged)');
  }

  if (properties.nonConflicting) {
    for (const count of taskCounts) {
      const names = pool.slice(0, count);
      const context = contextFor(names);
      const activeSets = count === 1 ? [[0]] : [names.map((_, i) => i), randomSubset(rng, count)];
      for (const active of activeSets) {
        const problem = randomProblem(rng, names, active);
        const outcome = call(problem, init(context), { step: 0, site: siteAt(0) });
        let products: number[];
        let scale: number;
        if (level === 'gramian') {
          const gramian = gramianOf(problem.jacobian);
          products = matVec(gramian, outcome.weights!);
          scale = maxAbs(gramian) * outcome.weights!.reduce((sum, w) => sum + Math.abs(w), 0);
        } else {
          products = matVec(problem.jacobian, outcome.update!);
          scale = maxAbs(problem.jacobian) * maxAbs(outcome.update!) * JACOBIAN_COLUMNS;
        }
        const floor = -1e-6 * Math.max(1, scale);
        const worst = products.findIndex((p) => p < floor);
        if (worst >= 0) {
          fail(
            'non-conflicting',
            `claims nonConflicting, but ${describeCall(problem)} the update conflicts with task '${names[active[worst]!]}': ` +
              `${level === 'gramian' ? 'G·w' : 'J·update'} = ${formatNumbers(products)} (must be ≥ 0)`,
          );
        }
      }
    }
    checks.push(`property nonConflicting: ${level === 'gramian' ? 'G·w' : 'J·update'} ≥ 0 on conflicting inputs, all and some tasks active`);
  }

  if (properties.scaleInvariantWeights) {
    for (const count of taskCounts) {
      const names = pool.slice(0, count);
      const context = contextFor(names);
      const problem = randomProblem(rng, names, names.map((_, i) => i));
      withParams(context, (params) => {
        const base = call(problem, init(context), { step: 0, site: siteAt(0), params });
        for (const scale of [0.1, 10]) {
          const scaled = call(problem, init(context), { step: 0, site: siteAt(0), params, scale });
          const what = level === 'loss' ? 'the losses' : level === 'gramian' ? 'G' : 'J';
          if (base.weights && scaled.weights && relativeGap(scaled.weights, base.weights) > tolerance) {
            fail(
              'scale-invariant',
              `claims scaleInvariantWeights, but for ${count} tasks with ${what} × ${scale} the weights are ${formatNumbers(scaled.weights)}, ` +
                `not ${formatNumbers(base.weights)}`,
            );
          }
          if (base.update && scaled.update) {
            const expected = base.update.map((u) => u * scale);
            if (relativeGap(scaled.update, expected) > tolerance) {
              fail('scale-invariant', `claims scaleInvariantWeights, but for ${count} tasks with J × ${scale} the update is not ${scale} × the update for J`);
            }
          }
        }
      });
    }
    checks.push(
      `property scaleInvariantWeights: weights unchanged when ${level === 'loss' ? 'the losses are' : level === 'gramian' ? 'G is' : 'J is'} multiplied by 0.1 or 10` +
        (level === 'jacobian' ? ' (and the update scales with J)' : ''),
    );
  }

  return { name: weighting.name, level, sites: [...sites], calls, checks };
}

function checkPluginShape(weighting: Weighting<any>, fail: (check: string, message: string, cause?: unknown) => never): GradientSite[] {
  if (typeof weighting !== 'object' || weighting === null) fail('plugin', `a weighting must be an object, got ${weighting === null ? 'null' : typeof weighting}`);
  if (weighting.kind !== 'weighting') fail('plugin', `kind must be 'weighting', got ${JSON.stringify(weighting.kind)}`);
  if (typeof weighting.name !== 'string' || !weighting.name) fail('plugin', `name must be a non-empty string, got ${JSON.stringify(weighting.name)}`);
  try {
    createRegistry().register(weighting);
  } catch (error) {
    fail('plugin', `createRegistry().register refuses it: ${messageOf(error)}`, error);
  }
  if (!LEVELS.includes(weighting.level)) fail('plugin', `level must be 'loss', 'gramian' or 'jacobian', got ${JSON.stringify(weighting.level)}`);
  if (typeof weighting.init !== 'function') fail('plugin', 'init(context) must be a function');
  const method = weighting.level === 'loss' ? 'combine' : weighting.level === 'gramian' ? 'weigh' : 'aggregate';
  if (typeof (weighting as unknown as Record<string, unknown>)[method] !== 'function') fail('plugin', `a ${weighting.level}-level weighting needs a ${method}() method`);
  if (weighting.level === 'loss') {
    if (weighting.parameters !== undefined && typeof weighting.parameters !== 'function') fail('plugin', 'parameters, when present, must be a function');
    return [];
  }
  const sites = weighting.sites as readonly GradientSite[] | undefined;
  const allowed = weighting.level === 'jacobian' ? SITES.filter((s) => s !== 'last-shared') : SITES;
  if (!Array.isArray(sites) || sites.length === 0) fail('plugin', `a ${weighting.level}-level weighting must declare its sites (a non-empty array; the first is the default)`);
  for (const site of sites!) {
    if (!allowed.includes(site)) fail('plugin', `site ${JSON.stringify(site)} is not one of ${allowed.join(', ')} (allowed at the ${weighting.level} level)`);
  }
  if (new Set(sites).size !== sites!.length) fail('plugin', `sites [${sites!.join(', ')}] lists a site twice`);
  return [...sites!];
}

function createParams(
  weighting: Weighting<any>,
  context: WeightingContext,
  fail: (check: string, message: string, cause?: unknown) => never,
): Record<string, Variable> | undefined {
  if (weighting.level !== 'loss' || !weighting.parameters) return undefined;
  let values: Record<string, number[]> = {};
  try {
    values = weighting.parameters(context);
  } catch (error) {
    fail('parameters', `parameters() threw: ${messageOf(error)}`, error);
  }
  if (typeof values !== 'object' || values === null) fail('parameters', 'parameters() must return an object of number arrays');
  for (const [key, array] of Object.entries(values)) {
    if (!Array.isArray(array) || array.length === 0 || array.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
      fail('parameters', `parameters().${key} must be a non-empty array of finite numbers, got ${JSON.stringify(array)}`);
    }
  }
  parameterScopes += 1;
  const scope = `testkit${parameterScopes}/weighting/${weighting.name}`;
  return Object.fromEntries(Object.entries(values).map(([key, array]) => [key, tf.tidy(() => tf.variable(tf.tensor1d(array), true, `${scope}/${key}`))]));
}

function callName(weighting: Weighting<any>): string {
  return weighting.level === 'loss' ? 'combine()' : weighting.level === 'gramian' ? 'weigh()' : 'aggregate()';
}

function describeCall(problem: WeightingProblem): string {
  return `for ${problem.names.length} task${problem.names.length === 1 ? '' : 's'} with active [${problem.active.map((i) => problem.names[i]).join(', ')}]`;
}

function sameNumbers(a: number[] | null, b: number[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]) || Math.abs(value - b[i]!) <= 1e-6 * Math.max(1, Math.abs(value)));
}

/**
 * One call as the engine makes it: combine inside a tidy (the engine's gradient tape), weigh and
 * aggregate outside one (the engine disposes their inputs and returned tensors itself, as done
 * here). Reads and validates every output, then disposes what the call produced.
 */
function callOnce(
  weighting: Weighting<any>,
  problem: WeightingProblem,
  state: unknown,
  settings: CallSettings,
  fail: (check: string, message: string, cause?: unknown) => never,
): Outcome {
  const activeTasks = problem.active.map((i) => problem.names[i]!);
  const count = activeTasks.length;
  const info: StepInfo = {
    step: settings.step,
    // the epoch advances every two calls, so epoch-based weightings (DWA) leave their first phase
    epoch: Math.floor(settings.step / 2),
    taskNames: problem.names,
    activeTasks,
    activeIndices: problem.active,
    site: settings.site,
  };
  const scale = settings.scale ?? 1;
  const where = describeCall(problem);
  const name = callName(weighting);

  const readWeights = (weights: unknown, optional: boolean): number[] | null => {
    if (weights === undefined && optional) return null;
    let values: number[];
    if (weights instanceof tf.Tensor) {
      if (weights.rank !== 1 || weights.size !== count) {
        fail('weights', `${name} returned weights of shape [${weights.shape.join(', ')}] ${where}; expected [${count}], one per active task`);
      }
      values = Array.from(weights.dataSync());
    } else if (Array.isArray(weights)) {
      if (weights.length !== count) fail('weights', `${name} returned ${weights.length} weights ${where}; expected ${count}, one per active task`);
      values = weights as number[];
    } else {
      return fail('weights', `${name} must return weights as a Tensor1D or number[] ${where}, got ${weights === null ? 'null' : typeof weights}`);
    }
    const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0) fail('weights', `${name} returned a non-finite weight (${values[bad]}) for task '${activeTasks[bad]}' ${where}: ${formatNumbers(values)}`);
    return values;
  };

  const checkResult = (result: unknown): Record<string, unknown> => {
    if (typeof result !== 'object' || result === null) fail('result', `${name} returned ${result === null ? 'null' : typeof result} ${where}; expected an object`);
    if (!('state' in (result as object))) fail('result', `${name} returned no \`state\` ${where}; return the next state (null when there is none)`);
    return result as Record<string, unknown>;
  };

  if (weighting.level === 'loss') {
    let outcome: Outcome | undefined;
    tf.tidy(() => {
      const losses = tf.tensor1d(problem.losses.map((l) => l * scale));
      let result: Record<string, unknown> = {};
      try {
        result = checkResult(weighting.combine(losses, state, { ...info, params: settings.params ?? {} }));
      } catch (error) {
        if (error instanceof ConformanceError) throw error;
        fail('call', `combine() threw ${where}: ${messageOf(error)}`, error);
      }
      const loss = result.loss;
      if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
        fail('loss', `combine() must return a scalar tensor as \`loss\` ${where}, got ${loss instanceof tf.Tensor ? `shape [${loss.shape.join(', ')}]` : typeof loss}`);
      }
      const lossValue = (loss as Tensor).dataSync()[0]!;
      if (!Number.isFinite(lossValue)) fail('loss', `combine() returned a non-finite loss (${lossValue}) ${where}`);
      const weights = readWeights(result.weights, false);
      if (losses.isDisposed) fail('inputs', `combine() disposed the losses it was given ${where}; the engine owns them`);
      outcome = { weights, loss: lossValue, update: null, state: result.state };
    });
    return outcome!;
  }

  const jacobian = problem.jacobian.map((row) => row.map((v) => Math.fround(v * (weighting.level === 'jacobian' ? scale : 1))));
  const losses = tf.tensor1d(problem.losses);
  const input =
    weighting.level === 'gramian'
      ? tf.tensor2d(gramianOf(problem.jacobian, scale), [count, count])
      : tf.tensor2d(jacobian, [count, JACOBIAN_COLUMNS]);
  const owned: Tensor[] = [losses, input];
  try {
    let result: Record<string, unknown> = {};
    try {
      result = checkResult(
        weighting.level === 'gramian' ? weighting.weigh(input, losses, state, info) : weighting.aggregate(input, losses, state, info),
      );
    } catch (error) {
      if (error instanceof ConformanceError) throw error;
      fail('call', `${name} threw ${where}: ${messageOf(error)}`, error);
    }
    for (const value of [result.weights, result.update]) if (value instanceof tf.Tensor) owned.push(value);
    const weights = readWeights(result.weights, weighting.level === 'jacobian');
    let update: number[] | null = null;
    if (weighting.level === 'jacobian') {
      const value = result.update;
      if (!(value instanceof tf.Tensor) || value.rank !== 1 || value.size !== JACOBIAN_COLUMNS) {
        fail(
          'update',
          `aggregate() must return \`update\` as a Tensor1D of shape [${JACOBIAN_COLUMNS}] (one entry per column of J) ${where}, got ${
            value instanceof tf.Tensor ? `shape [${value.shape.join(', ')}]` : typeof value
          }`,
        );
      }
      update = Array.from((value as Tensor).dataSync());
      const bad = update.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail('update', `aggregate() returned a non-finite update entry (${update[bad]}) ${where}`);
    }
    if (input.isDisposed || losses.isDisposed) {
      fail('inputs', `${name} disposed the ${input.isDisposed ? (weighting.level === 'gramian' ? 'Gramian' : 'Jacobian') : 'losses'} it was given ${where}; the engine owns them`);
    }
    return { weights, loss: null, update, state: result.state };
  } finally {
    owned.forEach((t) => t.dispose());
  }
}
