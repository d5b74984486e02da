import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  DenseStack,
  MtlError,
  Rng,
  uniqueScope,
  type ApplyOptions,
  type Features,
  type Inputs,
  type LayerModule,
  type MlpSpec,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec,
} from '@mtljs/core';

export interface HardSharingOptions {
  /** Default encoder when the spec gives none: an MLP with these hidden widths (default [64, 32]). */
  defaultEncoderUnits?: number[];
}

function checkTasks(tasks: readonly TaskSpec[]): void {
  if (!Array.isArray(tasks) || tasks.length === 0) {
    throw new MtlError('BAD_CONFIG', 'hard sharing: the model spec needs at least one task');
  }
  const seen = new Set<string>();
  for (const task of tasks) {
    if (!task || typeof task.name !== 'string' || !task.name) throw new MtlError('BAD_CONFIG', 'hard sharing: every task needs a non-empty name');
    if (seen.has(task.name)) throw new MtlError('BAD_CONFIG', `hard sharing: task name '${task.name}' is used twice`, { task: task.name });
    seen.add(task.name);
    if (!Number.isInteger(task.units) || task.units <= 0) {
      throw new MtlError('BAD_CONFIG', `task '${task.name}': units must be a positive integer, got ${task.units}`, { task: task.name });
    }
    if (task.kind === 'binary' && task.units !== 1) {
      throw new MtlError('BAD_CONFIG', `task '${task.name}': a binary task has units 1 (one logit), got ${task.units}`, { task: task.name });
    }
  }
}

function inputTensor(inputs: Inputs): Tensor {
  if (inputs instanceof tf.Tensor) return inputs;
  const keys = Object.keys(inputs);
  if (keys.length !== 1) {
    throw new MtlError('BAD_DATA', `hard sharing with an MLP encoder takes one input tensor; got inputs ${keys.map((k) => `'${k}'`).join(', ')}`);
  }
  return inputs[keys[0]!]!;
}

class HardSharingModel implements MultiTaskModel {
  readonly tasks: readonly TaskSpec[];
  readonly taskNames: readonly string[];
  private readonly encoder: LayerModule & { dispose?(): void };
  private readonly heads: Map<string, DenseStack>;
  private readonly inputShape: readonly number[];

  constructor(spec: ModelSpec, seed: number) {
    checkTasks(spec.tasks);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    const inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(inputSize) || inputSize <= 0) {
      throw new MtlError('BAD_CONFIG', `hard sharing: inputShape must be positive integers, got [${spec.inputShape.join(', ')}]`);
    }
    const rng = Rng.fromSeed(seed);
    const scope = uniqueScope('hard');
    const encoderSpec = spec.encoder as MlpSpec | LayerModule;
    if ((encoderSpec as MlpSpec).type === 'mlp') {
      const mlp = encoderSpec as MlpSpec;
      if (!Array.isArray(mlp.units) || mlp.units.length === 0) {
        throw new MtlError('BAD_CONFIG', 'hard sharing: the encoder MLP needs at least one layer (units: [..])');
      }
      this.encoder = new DenseStack({
        inputSize,
        units: mlp.units,
        activation: mlp.activation ?? 'relu',
        outputActivation: mlp.outputActivation ?? mlp.activation ?? 'relu',
        scope: `${scope}/encoder`,
        rng,
      });
    } else if (encoderSpec && typeof (encoderSpec as LayerModule).apply === 'function') {
      this.encoder = encoderSpec as LayerModule;
    } else {
      throw new MtlError('BAD_CONFIG', "hard sharing: `encoder` must be { type: 'mlp', units: [...] } or a LayerModule");
    }
    const featureSize = this.encoder.outputShape(this.inputShape).reduce((a, b) => a * b, 1);
    const head = spec.head ?? { type: 'mlp', units: [] };
    this.heads = new Map(
      this.tasks.map((task) => [
        task.name,
        new DenseStack({
          inputSize: featureSize,
          units: [...head.units, task.units],
          activation: head.activation ?? 'relu',
          outputActivation: 'linear',
          scope: `${scope}/head/${task.name}`,
          rng,
        }),
      ]),
    );
  }

  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = inputTensor(inputs);
    const expected = this.inputShape.join(', ');
    if (x.rank !== this.inputShape.length + 1 || x.shape.slice(1).join(', ') !== expected) {
      throw new MtlError('SHAPE_MISMATCH', `hard sharing: inputs of shape [${x.shape.join(', ')}] do not match the model's input shape [N, ${expected}]`, {
        column: 'inputs',
        expected: this.inputShape,
        received: x.shape,
      });
    }
    return this.encoder.apply(x, options);
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (!(features instanceof tf.Tensor)) throw new MtlError('BAD_DATA', 'hard sharing: features must be one tensor');
    const names = tasks ?? this.taskNames;
    const outputs: Record<string, Tensor> = {};
    for (const name of names) {
      const head = this.heads.get(name);
      if (!head) throw new MtlError('BAD_CONFIG', `hard sharing: no head for task '${name}'; tasks: ${this.taskNames.join(', ')}`, { task: name });
      outputs[name] = head.apply(features, options);
    }
    return outputs;
  }

  apply(inputs: Inputs, options: ApplyOptions) {
    const features = this.encode(inputs, options);
    return { features, outputs: this.decode(features, inputs, options) };
  }

  sharedVariables(): Variable[] {
    return this.encoder.variables();
  }

  lastSharedVariables(): Variable[] {
    return this.encoder.lastLayerVariables();
  }

  taskVariables(task: string): Variable[] {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', `hard sharing: no task named '${task}'; tasks: ${this.taskNames.join(', ')}`, { task });
    return head.variables();
  }

  private allVariables(): Variable[] {
    return [...this.sharedVariables(), ...this.taskNames.flatMap((task) => this.taskVariables(task))];
  }

  getWeights(): NamedTensorMap {
    return Object.fromEntries(this.allVariables().map((v) => [localName(v.name), tf.clone(v)]));
  }

  setWeights(weights: NamedTensorMap): void {
    for (const variable of this.allVariables()) {
      const key = localName(variable.name);
      const value = weights[key];
      if (!value) throw new MtlError('BAD_CHECKPOINT', `weights are missing '${key}'`, { expected: key });
      if (value.shape.join(',') !== variable.shape.join(',')) {
        throw new MtlError('BAD_CHECKPOINT', `weight '${key}' has shape [${value.shape.join(', ')}], the model needs [${variable.shape.join(', ')}]`, {
          expected: variable.shape,
          received: value.shape,
        });
      }
    }
    for (const variable of this.allVariables()) variable.assign(weights[localName(variable.name)]!);
  }

  dispose(): void {
    this.encoder.dispose?.();
    for (const head of this.heads.values()) head.dispose();
  }
}

/** Variable names carry a process-unique prefix (`mtl7/`); checkpoints use the rest. */
function localName(name: string): string {
  return name.replace(/^mtl\d+\//, '');
}

/**
 * Hard parameter sharing (Caruana 1997): one encoder shared by every task, one head per task.
 * Shared variables: the encoder; last shared layer: the encoder's last dense layer; features:
 * the encoder's output; task variables: the task's head.
 */
export function hardSharing(options: HardSharingOptions = {}): SharingStrategy {
  return {
    kind: 'sharing',
    name: 'hard',
    apiVersion: API_VERSION,
    build(spec: ModelSpec, buildOptions) {
      const encoder = spec.encoder ?? { type: 'mlp', units: options.defaultEncoderUnits ?? [64, 32] };
      return new HardSharingModel({ ...spec, encoder }, buildOptions?.seed ?? 0);
    },
  };
}
