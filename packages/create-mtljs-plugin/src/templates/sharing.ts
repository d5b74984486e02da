import type { TemplateContext } from './common';
import { capital } from './weighting';

export function sharingSource({ name, factory }: TemplateContext): string {
  const model = `${capital(factory)}Model`;
  return `import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  buildHead,
  buildModule,
  checkOptions,
  checkTaskSpecs,
  MtlError,
  Rng,
  singleInput,
  uniqueScope,
  WeightTable,
  type ApplyOptions,
  type Features,
  type Inputs,
  type LayerModule,
  type ModelSpec,
  type MultiTaskModel,
  type SharingStrategy,
  type TaskSpec,
} from '@mtljs/core';

export interface ${capital(factory)}Options {
  /** Hidden widths of the encoder when the spec gives none (default [32]). */
  defaultEncoderUnits?: number[];
}

/**
 * TODO: replace this example with your own architecture, and say in README.md which variables
 * are shared, which layer is the last shared one and what the features are.
 *
 * Example: hard parameter sharing. One encoder (spec.encoder) feeds one head per task. Shared
 * variables: the encoder's; last shared: the encoder's last layer; features: the encoder's
 * output; task variables: the task's head.
 */
class ${model} implements MultiTaskModel {
  readonly tasks: readonly TaskSpec[];
  readonly taskNames: readonly string[];
  private readonly encoder: LayerModule;
  private readonly heads: Map<string, LayerModule>;
  private readonly inputShape: readonly number[];
  private readonly scope: string;

  constructor(spec: ModelSpec, seed: number) {
    checkTaskSpecs("sharing '${name}'", spec.tasks);
    this.tasks = spec.tasks.map((task) => ({ ...task }));
    this.taskNames = this.tasks.map((task) => task.name);
    this.inputShape = [...spec.inputShape];
    // Every initial value comes from this seeded generator, so a seed fixes the model.
    const rng = Rng.fromSeed(seed);
    this.scope = uniqueScope('${name}');
    this.encoder = buildModule(spec.encoder, { inputShape: this.inputShape, rng, scope: this.scope + '/encoder', what: "sharing '${name}' encoder" });
    const featureShape = this.encoder.outputShape(this.inputShape);
    this.heads = new Map(
      this.tasks.map((task) => [
        task.name,
        buildHead(spec.head, { featureShape, units: task.units, rng, scope: this.scope + '/head/' + task.name, what: "sharing '${name}' head of task '" + task.name + "'" }),
      ]),
    );
  }

  // encode reads shared variables only and decode reads task variables only: the engine's
  // 'features' site differentiates the task losses with respect to encode's output.
  encode(inputs: Inputs, options: ApplyOptions): Features {
    const x = singleInput(inputs, "sharing '${name}' takes one input tensor");
    if (x.shape.slice(1).join(',') !== this.inputShape.join(',')) {
      throw new MtlError('SHAPE_MISMATCH', "sharing '${name}': inputs of shape [" + x.shape.join(', ') + "] do not match [N, " + this.inputShape.join(', ') + ']', {
        column: 'inputs',
      });
    }
    return this.encoder.apply(x, options);
  }

  decode(features: Features, _inputs: Inputs, options: ApplyOptions, tasks?: readonly string[]): Record<string, Tensor> {
    if (!(features instanceof tf.Tensor)) throw new MtlError('BAD_DATA', "sharing '${name}': features must be one tensor");
    const outputs: Record<string, Tensor> = {};
    for (const task of tasks ?? this.taskNames) outputs[task] = this.head(task).apply(features, options);
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
    return this.head(task).variables();
  }

  getWeights(): NamedTensorMap {
    return this.weightTable().read();
  }

  setWeights(weights: NamedTensorMap): void {
    this.weightTable().write(weights);
  }

  dispose(): void {
    this.encoder.dispose?.();
    for (const head of this.heads.values()) head.dispose?.();
  }

  private head(task: string): LayerModule {
    const head = this.heads.get(task);
    if (!head) throw new MtlError('BAD_CONFIG', "sharing '${name}': no task named '" + task + "'; tasks: " + this.taskNames.join(', '), { task });
    return head;
  }

  // Checkpoint names stable across processes: the group and the layer, not tfjs's variable ids.
  private weightTable(): WeightTable {
    return new WeightTable(this.scope, {
      encoder: this.encoder.variables(),
      ...Object.fromEntries(this.taskNames.map((task) => ['head/' + task, this.taskVariables(task)])),
    });
  }
}

export function ${factory}(options: ${capital(factory)}Options = {}): SharingStrategy {
  checkOptions("sharing '${name}'", options, ['defaultEncoderUnits']);
  const units = options.defaultEncoderUnits ?? [32];
  if (!Array.isArray(units) || units.length === 0 || !units.every((u) => Number.isInteger(u) && u > 0)) {
    throw new MtlError('BAD_CONFIG', "sharing '${name}': defaultEncoderUnits must be a non-empty list of positive integers, got " + JSON.stringify(units));
  }
  return {
    kind: 'sharing',
    name: '${name}',
    apiVersion: API_VERSION,
    sites: ['shared', 'last-shared', 'features'],
    configure: (next) => ${factory}(next as ${capital(factory)}Options),
    build: (spec, buildOptions) => new ${model}({ ...spec, encoder: spec.encoder ?? { type: 'mlp', units } }, buildOptions.seed),
  };
}
`;
}

export function sharingTest({ name, factory }: TemplateContext): string {
  return `import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, equalWeighting, isMtlError } from '@mtljs/core';
import { checkSharingStrategy, thrownBy, trainerSmokeCheck } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { ${factory} } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe("sharing '${name}'", () => {
  it('passes the testkit conformance suite', async () => {
    const report = await checkSharingStrategy(${factory}(), { seed: 3 });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('trains with the real engine', async () => {
    const report = await trainerSmokeCheck(${factory}(), equalWeighting());
    for (const run of report.runs) expect(run.lastLoss).toBeLessThan(run.firstLoss);
  });

  it('registers under its name and refuses unknown options', () => {
    const registry = createRegistry();
    registry.register(${factory}());
    expect(registry.list('sharing')).toContain('${name}');
    const error = thrownBy(() => ${factory}({ depth: 2 } as never));
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
  });
});
`;
}
