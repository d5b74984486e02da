import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { createRegistry, equalWeighting, Rng, type Features, type GradientSite, type Inputs, type ModelSpec, type MultiTaskModel, type SharingStrategy } from '@mtljs/core';
import { ConformanceError, messageOf } from './errors';
import { checkNoLeak } from './leak';
import { defaultSharingSpec } from './spec';
import { trainerSmokeCheck, type TrainerSmokeRun } from './trainer-smoke';
import { clipNormWeighting } from './clip-norm';

export { defaultSharingSpec };

/** Options of `checkSharingStrategy`. */
export interface SharingCheckOptions<Spec extends ModelSpec = ModelSpec> {
  /** The model to build (default {@link defaultSharingSpec}). */
  spec?: Spec;
  /** Build seed (default 0); seed + 1 is the "different seed". */
  seed?: number;
  /** Examples in the synthetic batch (default 4). */
  batchSize?: number;
  /**
   * Inputs for specs that take something other than one [N, ...inputShape] tensor (default:
   * standard normal values of that shape).
   */
  makeInputs?: (batchSize: number, rng: Rng) => Inputs;
  /** Calls counted by the leak check (default 20). */
  leakSteps?: number;
  /**
   * Trainer steps of the training check, per run (default 100): equal weighting, then a Gramian
   * weighting at each site the strategy declares (`strategy.sites`, default all three). 0 skips it.
   */
  trainingSteps?: number;
}

/** What `checkSharingStrategy` checked when every assertion held. */
export interface SharingCheckReport {
  /** The strategy's name. */
  name: string;
  /** The spec's task names, in order. */
  tasks: string[];
  /** Number of variables of the model built with `seed`, per set. */
  variables: {
    /** `sharedVariables()`. */
    shared: number;
    /** `lastSharedVariables()` (a subset of the shared ones). */
    lastShared: number;
    /** `taskVariables(t)`, by task name. */
    perTask: Record<string, number>;
  };
  /** The training runs (equal weighting first, then the Gramian weighting per site); empty when `trainingSteps` is 0. */
  training: {
    /** `'ew'`, or `'testkit-clip-norm'` (w_t = min(1, 1/√G_tt)) for the Gramian runs. */
    weighting: string;
    /** Gradient site of the run; `null` for equal weighting (loss level). */
    site: GradientSite | null;
    /** Counted steps after the warm-up step (`trainingSteps`). */
    steps: number;
    /** Σ_t L_t (raw task losses) at the warm-up step. */
    firstLoss: number;
    /** Σ_t L_t (raw task losses) at the last step; below `firstLoss`. */
    lastLoss: number;
  }[];
  /** One sentence per assertion made, for a test's log. */
  checks: string[];
}

/** Outputs and features of one forward pass, read back as numbers. */
interface Snapshot {
  outputs: Record<string, { shape: number[]; values: Float32Array }>;
  features: Record<string, { shape: number[]; values: Float32Array }>;
}

const EXACT = 1e-6;

/**
 * The conformance suite of a sharing strategy: builds models from `spec` and checks the
 * MultiTaskModel contract the engine relies on. Throws a ConformanceError naming the first failed
 * assertion; returns what was checked. See README.md for the exact list.
 *
 * @throws `ConformanceError` (with the failed check's name in `check`) at the first assertion that fails.
 */
export async function checkSharingStrategy<Spec extends ModelSpec = ModelSpec>(
  strategy: SharingStrategy<Spec>,
  options: SharingCheckOptions<Spec> = {},
): Promise<SharingCheckReport> {
  const subject = `sharing strategy '${typeof strategy?.name === 'string' && strategy.name ? strategy.name : '?'}'`;
  const fail = (check: string, message: string, cause?: unknown): never => {
    throw new ConformanceError(subject, check, message, cause === undefined ? undefined : { cause });
  };
  const spec = options.spec ?? (defaultSharingSpec() as Spec);
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize ?? 4;
  const leakSteps = options.leakSteps ?? 20;
  const taskNames = spec.tasks.map((task) => task.name);
  const checks: string[] = [];

  if (typeof strategy !== 'object' || strategy === null) fail('plugin', `a sharing strategy must be an object, got ${strategy === null ? 'null' : typeof strategy}`);
  if (strategy.kind !== 'sharing') fail('plugin', `kind must be 'sharing', got ${JSON.stringify(strategy.kind)}`);
  try {
    createRegistry().register(strategy);
  } catch (error) {
    fail('plugin', `createRegistry().register refuses it: ${messageOf(error)}`, error);
  }
  if (typeof strategy.build !== 'function') fail('plugin', 'build(spec, options) must be a function');
  checks.push(`plugin: kind 'sharing', name '${strategy.name}', apiVersion ${strategy.apiVersion} accepted by createRegistry().register`);

  const rng = Rng.fromSeed(seed);
  const inputs = options.makeInputs ? options.makeInputs(batchSize, rng) : randomInputs(rng, batchSize, spec.inputShape);
  const models: MultiTaskModel[] = [];
  const build = (buildSeed: number, why: string): MultiTaskModel => {
    let model: MultiTaskModel | undefined;
    try {
      model = strategy.build(spec, { seed: buildSeed });
    } catch (error) {
      fail('build', `build(spec, { seed: ${buildSeed} }) threw${why ? ` ${why}` : ''}: ${messageOf(error)}`, error);
    }
    if (typeof model !== 'object' || model === null) fail('build', `build() returned ${model === null ? 'null' : typeof model}, not a MultiTaskModel`);
    models.push(model!);
    return model!;
  };
  const forward = (target: MultiTaskModel, training = false): Snapshot => snapshot(target, inputs, training, batchSize, spec, fail);
  let counts: SharingCheckReport['variables'] | undefined;

  try {
    try {
      const model = build(seed, '');
      if (!Array.isArray(model.taskNames) || model.taskNames.join('\u0000') !== taskNames.join('\u0000')) {
        fail('build', `model.taskNames is ${JSON.stringify(model.taskNames)}; expected the spec's tasks in order: ${JSON.stringify(taskNames)}`);
      }
      if (!Array.isArray(model.tasks) || model.tasks.map((t) => t?.name).join('\u0000') !== taskNames.join('\u0000')) {
        fail('build', `model.tasks must list the spec's tasks in order (${taskNames.join(', ')})`);
      }
      checks.push('build(spec, { seed }) returns a model whose tasks and taskNames follow the spec');

      const reference = forward(model);
      forward(model, true);
      checks.push(`apply() gives one finite [N, units] output per task and finite features, with training false and true (N = ${batchSize})`);

      checkEncodeDecode(model, inputs, reference, taskNames, fail);
      checks.push(`apply(x) ≡ decode(encode(x), x) (outputs and features, max abs diff ≤ 1e-6); decode(…, [t]) gives t's output alone`);

      const variables = collectVariables(model, taskNames, fail);
      counts = {
        shared: variables.shared.length,
        lastShared: variables.lastShared.length,
        perTask: Object.fromEntries(taskNames.map((task) => [task, variables.perTask[task]!.length])),
      };
      checks.push(
        'sharedVariables(), lastSharedVariables() and taskVariables(t) are live tf.Variables; lastShared ⊆ shared; ' +
          'shared and task sets disjoint, task sets pairwise disjoint and non-empty; every variable name unique',
      );

      // Task isolation: each head reads its own variables and no other task's.
      for (const task of taskNames) {
        const after = withShift(variables.perTask[task]!, 1, () => forward(model));
        for (const other of taskNames) {
          const gap = maxGap(after.outputs[other]!.values, reference.outputs[other]!.values);
          if (other !== task && gap > EXACT) {
            fail(
              'task-isolation',
              `adding 1 to task '${task}'s variables changed task '${other}'s output (max abs diff ${gap.toPrecision(3)}); ` +
                "a task's output may depend on the shared variables and its own taskVariables only",
            );
          }
          if (other === task && !(gap > EXACT)) {
            fail('task-isolation', `adding 1 to task '${task}'s variables left its own output unchanged; taskVariables('${task}') must be the variables its head uses`);
          }
        }
        for (const [key, value] of Object.entries(after.features)) {
          if (maxGap(value.values, reference.features[key]!.values) > EXACT) {
            fail('task-isolation', `adding 1 to task '${task}'s variables changed the features${key ? ` '${key}'` : ''}; encode() must read shared variables only`);
          }
        }
      }
      if (variables.shared.length) {
        const after = withShift(variables.shared, 1, () => forward(model));
        if (taskNames.every((task) => !(maxGap(after.outputs[task]!.values, reference.outputs[task]!.values) > EXACT))) {
          fail('task-isolation', 'adding 1 to sharedVariables() changed no output; they must be the variables the encoder uses');
        }
      }
      const restored = forward(model);
      for (const task of taskNames) {
        if (maxGap(restored.outputs[task]!.values, reference.outputs[task]!.values) > EXACT) {
          fail('task-isolation', `task '${task}'s output did not come back after its variables were restored; the model keeps state outside its variables`);
        }
      }
      checks.push("adding 1 to one task's variables changes its own output only, and never the features; adding 1 to the shared variables changes the outputs");

      // Checkpoint round trip: setWeights alone must undo a change of every variable.
      const all = [...variables.shared, ...taskNames.flatMap((t) => variables.perTask[t]!)];
      const live = new Set<unknown>(all);
      const saved = readWeights(model, fail);
      try {
        const aliased = Object.keys(saved).find((key) => live.has(saved[key]));
        if (aliased !== undefined) {
          fail('weights', `getWeights() returned the live variable as '${aliased}'; return copies (tf.clone) so a checkpoint does not change with the model`);
        }
        tf.tidy(() => all.forEach((v) => v.assign(tf.add(v, tf.scalar(0.5, v.dtype)))));
        try {
          model.setWeights(saved);
        } catch (error) {
          fail('weights', `setWeights(getWeights()) threw: ${messageOf(error)}`, error);
        }
        const back = forward(model);
        for (const task of taskNames) {
          const gap = maxGap(back.outputs[task]!.values, reference.outputs[task]!.values);
          if (gap > EXACT) fail('weights', `after changing every variable and calling setWeights(saved), task '${task}'s output differs by ${gap.toPrecision(3)}; getWeights/setWeights must round trip`);
        }
      } finally {
        disposeCopies(saved, live);
      }
      checks.push('getWeights() returns copies; setWeights(getWeights()) restores the outputs after every variable was changed');

      // Determinism, seeds and portable checkpoints.
      const twin = build(seed, 'for a second model while the first is alive (variable names must be unique per model: use uniqueScope)');
      const twinOutputs = forward(twin);
      for (const task of taskNames) {
        const gap = maxGap(twinOutputs.outputs[task]!.values, reference.outputs[task]!.values);
        if (gap > EXACT) fail('determinism', `two models built with seed ${seed} differ on task '${task}' by ${gap.toPrecision(3)}; initialise from the seeded Rng only`);
      }
      const other = build(seed + 1, 'with a different seed');
      const otherOutputs = forward(other);
      if (taskNames.every((task) => !(maxGap(otherOutputs.outputs[task]!.values, reference.outputs[task]!.values) > EXACT))) {
        fail('determinism', `models built with seeds ${seed} and ${seed + 1} give identical outputs; the seed must drive initialisation`);
      }
      const weights = readWeights(model, fail);
      try {
        const otherWeights = readWeights(other, fail);
        const theirs = Object.keys(otherWeights).sort();
        disposeCopies(otherWeights, new Set([...other.sharedVariables(), ...taskNames.flatMap((t) => other.taskVariables(t))]));
        const mine = Object.keys(weights).sort();
        if (mine.join('\u0000') !== theirs.join('\u0000')) {
          fail(
            'weights',
            `getWeights() keys differ between two models of the same spec ('${mine.find((k) => !theirs.includes(k)) ?? mine[0]}' vs '${theirs.find((k) => !mine.includes(k)) ?? theirs[0]}'); ` +
              'leave per-model prefixes out of the keys so a checkpoint loads into a new model',
          );
        }
        try {
          other.setWeights(weights);
        } catch (error) {
          fail('weights', `setWeights() of one model's getWeights() into another model of the same spec threw: ${messageOf(error)}`, error);
        }
      } finally {
        disposeCopies(weights, live);
      }
      const loaded = forward(other);
      for (const task of taskNames) {
        const gap = maxGap(loaded.outputs[task]!.values, reference.outputs[task]!.values);
        if (gap > EXACT) fail('weights', `a model given another model's weights differs from it on task '${task}' by ${gap.toPrecision(3)}`);
      }
      checks.push(
        `same seed gives identical outputs; seeds ${seed} and ${seed + 1} give different ones; ` +
          "one model's getWeights() loads into another model of the same spec and reproduces its outputs",
      );

      if (model.penalty) {
        let value = Number.NaN;
        tf.tidy(() => {
          const penalty = model.penalty!();
          if (!(penalty instanceof tf.Tensor) || penalty.rank !== 0) fail('penalty', 'penalty() must return a scalar tensor');
          value = penalty.dataSync()[0]!;
        });
        if (!Number.isFinite(value)) fail('penalty', `penalty() is not finite (${value})`);
        checks.push('penalty() is a finite scalar');
      }

      // The engine and evaluateModel call a model inside a tidy, so only what escapes one
      // (tf.keep, new variables, caches) is a leak.
      await checkNoLeak(
        () =>
          tf.tidy(() => {
            model.apply(inputs, { training: true });
            model.apply(inputs, { training: false });
            model.penalty?.();
          }),
        { steps: leakSteps, warmup: 1, label: `${subject} apply()` },
      );
      checks.push(`apply() inside tf.tidy leaks no tensor over ${leakSteps} calls (training true and false)`);
    } finally {
      for (const model of models.splice(0)) {
        try {
          model.dispose();
        } catch {
          // A failed check is already on its way out; a second error would hide it.
        }
      }
    }

    // dispose() frees everything build() created.
    const before = tf.memory().numTensors;
    const model = build(seed, 'for the dispose check');
    models.length = 0;
    const built = tf.memory().numTensors - before;
    try {
      tf.tidy(() => {
        model.apply(inputs, { training: true });
      });
    } finally {
      try {
        model.dispose();
      } catch (error) {
        fail('dispose', `dispose() threw: ${messageOf(error)}`, error);
      }
    }
    const left = tf.memory().numTensors - before;
    if (left !== 0) {
      fail('dispose', `dispose() left ${left} tensor${left === 1 ? '' : 's'} alive (build() created ${built}); dispose every variable and constant the model holds`);
    }
    checks.push('dispose() returns tf.memory().numTensors to its count before build()');
  } finally {
    disposeInputs(inputs);
  }

  const training: SharingCheckReport['training'] = [];
  const trainingSteps = options.trainingSteps ?? 100;
  if (trainingSteps > 0) {
    const sites = [...(strategy.sites ?? (['shared', 'last-shared', 'features'] as const))];
    const runs: [string, TrainerSmokeRun[]][] = [];
    try {
      const ew = await trainerSmokeCheck(strategy, equalWeighting(), { spec, seed, steps: trainingSteps });
      runs.push(['ew', ew.runs]);
      const gramianRuns = await trainerSmokeCheck(strategy, clipNormWeighting(sites), { spec, seed, steps: trainingSteps, sites });
      runs.push([clipNormWeighting(sites).name, gramianRuns.runs]);
    } catch (error) {
      fail('training', messageOf(error), error);
    }
    for (const [weighting, list] of runs) for (const run of list) training.push({ weighting, ...run });
    checks.push(
      `training: ${trainingSteps} Trainer steps each with equal weighting and with a Gramian weighting at ${sites.join(', ')}: ` +
        'finite losses, the summed loss goes down, no tensor leaks, dispose frees everything',
    );
  }

  return { name: strategy.name, tasks: taskNames, variables: counts!, training, checks };
}

/** Runs `body` with `delta` added to every variable of `list`, then puts the values back. */
function withShift<T>(list: Variable[], delta: number, body: () => T): T {
  const saved = list.map((v) => tf.keep(tf.clone(v)));
  try {
    tf.tidy(() => list.forEach((v) => v.assign(tf.add(v, tf.scalar(delta, v.dtype)))));
    return body();
  } finally {
    list.forEach((v, i) => v.assign(saved[i]!));
    saved.forEach((t) => t.dispose());
  }
}

function checkEncodeDecode(
  model: MultiTaskModel,
  inputs: Inputs,
  reference: Snapshot,
  taskNames: string[],
  fail: (check: string, message: string, cause?: unknown) => never,
): void {
  tf.tidy(() => {
    const options = { training: false };
    let features: Features | undefined;
    let decoded: Record<string, Tensor> | undefined;
    try {
      features = model.encode(inputs, options);
      checkFeatures(features, 'encode()', fail);
      decoded = model.decode(features, inputs, options);
    } catch (error) {
      if (error instanceof ConformanceError) throw error;
      fail('encode-decode', `decode(encode(x), x) threw: ${messageOf(error)}`, error);
    }
    const encoded = featureMap(features!);
    for (const [key, value] of Object.entries(reference.features)) {
      const gap = maxGap(encoded[key]?.dataSync(), value.values);
      if (gap > EXACT) fail('encode-decode', `encode() features${key === '' ? '' : ` '${key}'`} differ from apply().features by ${gap.toPrecision(3)}`);
    }
    for (const task of taskNames) {
      const output = decoded?.[task];
      if (!(output instanceof tf.Tensor)) fail('encode-decode', `decode(encode(x), x) has no output tensor for task '${task}'`);
      const gap = maxGap(output!.dataSync(), reference.outputs[task]!.values);
      if (gap > EXACT) fail('encode-decode', `decode(encode(x), x) differs from apply(x) for task '${task}' by ${gap.toPrecision(3)} (max abs)`);
      const alone = model.decode(features!, inputs, options, [task]);
      if (!(alone?.[task] instanceof tf.Tensor)) fail('encode-decode', `decode(features, x, options, ['${task}']) has no output for task '${task}'`);
      const aloneGap = maxGap(alone[task]!.dataSync(), reference.outputs[task]!.values);
      if (aloneGap > EXACT) fail('encode-decode', `decoding task '${task}' alone differs from decoding all tasks by ${aloneGap.toPrecision(3)} (max abs)`);
    }
  });
}

function randomInputs(rng: Rng, batchSize: number, inputShape: readonly number[]): Tensor {
  const shape = [batchSize, ...inputShape];
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
}

function disposeInputs(inputs: Inputs): void {
  if (inputs instanceof tf.Tensor) inputs.dispose();
  else Object.values(inputs).forEach((t) => t.dispose());
}

function featureMap(features: Features): Record<string, Tensor> {
  return features instanceof tf.Tensor ? { '': features } : features;
}

function checkFeatures(features: unknown, what: string, fail: (check: string, message: string) => never): void {
  if (features instanceof tf.Tensor) return;
  if (typeof features !== 'object' || features === null || Object.keys(features).length === 0) {
    fail('features', `${what} must give the features as a tensor or a non-empty record of tensors`);
  }
  for (const [key, value] of Object.entries(features as object)) {
    if (!(value instanceof tf.Tensor)) fail('features', `${what} features '${key}' is not a tensor`);
  }
}

function maxGap(a: ArrayLike<number> | undefined, b: ArrayLike<number>): number {
  if (!a || a.length !== b.length) return Number.POSITIVE_INFINITY;
  let gap = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= gap)) gap = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return gap;
}

function snapshot(
  model: MultiTaskModel,
  inputs: Inputs,
  training: boolean,
  batchSize: number,
  spec: ModelSpec,
  fail: (check: string, message: string, cause?: unknown) => never,
): Snapshot {
  const taken: Snapshot = { outputs: {}, features: {} };
  tf.tidy(() => {
    let result: ReturnType<MultiTaskModel['apply']> | undefined;
    try {
      result = model.apply(inputs, { training });
    } catch (error) {
      fail('apply', `apply(x, { training: ${training} }) threw: ${messageOf(error)}`, error);
    }
    if (typeof result?.outputs !== 'object' || result.outputs === null) fail('apply', 'apply() must return { outputs, features }');
    checkFeatures(result!.features, 'apply()', fail);
    for (const task of spec.tasks) {
      const output = result!.outputs[task.name];
      if (!(output instanceof tf.Tensor)) fail('apply', `apply() returned no output tensor for task '${task.name}'`);
      const expected = [batchSize, task.units];
      if (output!.shape.join(',') !== expected.join(',')) {
        fail('apply', `apply() output of task '${task.name}' has shape [${output!.shape.join(', ')}]; expected [${expected.join(', ')}] ([N, units])`);
      }
      const values = Float32Array.from(output!.dataSync());
      if (!values.every(Number.isFinite)) fail('apply', `apply() output of task '${task.name}' is not finite (training: ${training})`);
      taken.outputs[task.name] = { shape: output!.shape, values };
    }
    const unknown = Object.keys(result!.outputs).filter((key) => !spec.tasks.some((task) => task.name === key));
    if (unknown.length) fail('apply', `apply() returned outputs for ${unknown.map((k) => `'${k}'`).join(', ')}, which are not tasks of the spec`);
    for (const [key, tensor] of Object.entries(featureMap(result!.features))) {
      const values = Float32Array.from(tensor.dataSync());
      if (!values.every(Number.isFinite)) fail('apply', `apply() features${key ? ` '${key}'` : ''} are not finite (training: ${training})`);
      taken.features[key] = { shape: tensor.shape, values };
    }
  });
  return taken;
}

function collectVariables(
  model: MultiTaskModel,
  taskNames: string[],
  fail: (check: string, message: string) => never,
): { shared: Variable[]; lastShared: Variable[]; perTask: Record<string, Variable[]> } {
  const list = (what: string, get: () => Variable[]): Variable[] => {
    let variables: Variable[] = [];
    try {
      variables = get();
    } catch (error) {
      fail('variables', `${what} threw: ${messageOf(error)}`);
    }
    if (!Array.isArray(variables)) fail('variables', `${what} must return an array of tf.Variables`);
    const names = new Set<string>();
    for (const variable of variables) {
      if (!(variable instanceof tf.Variable)) fail('variables', `${what} returned something that is not a tf.Variable`);
      if (variable.isDisposed) fail('variables', `${what} returned the disposed variable '${variable.name}'`);
      if (names.has(variable.name)) fail('variables', `${what} lists variable '${variable.name}' twice`);
      names.add(variable.name);
    }
    return variables;
  };
  const shared = list('sharedVariables()', () => model.sharedVariables());
  const lastShared = list('lastSharedVariables()', () => model.lastSharedVariables());
  const sharedSet = new Set(shared);
  for (const variable of lastShared) {
    if (!sharedSet.has(variable)) fail('variables', `lastSharedVariables() has '${variable.name}', which is not in sharedVariables()`);
  }
  const owner = new Map<string, string>(shared.map((v) => [v.name, 'sharedVariables()']));
  const perTask: Record<string, Variable[]> = {};
  for (const task of taskNames) {
    const what = `taskVariables('${task}')`;
    const variables = list(what, () => model.taskVariables(task));
    if (variables.length === 0) fail('variables', `${what} is empty; every task's head has variables`);
    for (const variable of variables) {
      const previous = owner.get(variable.name);
      if (previous) fail('variables', `variable '${variable.name}' is in both ${previous} and ${what}; the sets must be disjoint`);
      owner.set(variable.name, what);
    }
    perTask[task] = variables;
  }
  return { shared, lastShared, perTask };
}

function readWeights(model: MultiTaskModel, fail: (check: string, message: string, cause?: unknown) => never): Record<string, Tensor> {
  let weights: Record<string, Tensor> = {};
  try {
    weights = model.getWeights();
  } catch (error) {
    fail('weights', `getWeights() threw: ${messageOf(error)}`, error);
  }
  if (typeof weights !== 'object' || weights === null || Object.keys(weights).length === 0) fail('weights', 'getWeights() must return a non-empty record of tensors');
  for (const [key, value] of Object.entries(weights)) {
    if (!(value instanceof tf.Tensor)) fail('weights', `getWeights() entry '${key}' is not a tensor`);
  }
  return weights;
}

/** Disposes what getWeights() returned, except the model's own variables if it handed those out. */
function disposeCopies(weights: Record<string, Tensor>, live: Set<unknown>): void {
  for (const tensor of Object.values(weights)) if (!live.has(tensor)) tensor.dispose();
}
