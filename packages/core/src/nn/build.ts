import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { ApplyOptions, LayerModule, LayerModuleFactory, MlpSpec, ModuleSpec } from '../contracts';
import { MtlError } from '../errors';
import { Rng } from '../rng';
import { ConvStack } from './conv';
import { DenseStack } from './mlp';

/** What {@link buildModule} needs besides the spec. */
export interface BuildModuleContext {
  /** One example's input shape. */
  inputShape: readonly number[];
  /** Source of the initial values (core's blocks) or of the factory's seed; advanced by the build. */
  rng: Rng;
  /** Variable-name prefix, unique among live variables (see uniqueScope). */
  scope: string;
  /** What is being built, for error messages (e.g. "hard sharing encoder"). */
  what: string;
  /**
   * Whether a LayerModule instance is acceptable. A strategy that builds several modules from one
   * spec (towers, experts) passes false: one instance cannot be several modules.
   */
  allowInstance?: boolean;
}

function isModule(spec: unknown): spec is LayerModule {
  return typeof spec === 'object' && spec !== null && typeof (spec as LayerModule).apply === 'function' && typeof (spec as LayerModule).variables === 'function';
}

function isFactory(spec: unknown): spec is LayerModuleFactory {
  return typeof spec === 'object' && spec !== null && (spec as LayerModuleFactory).type === 'factory' && typeof (spec as LayerModuleFactory).create === 'function';
}

/**
 * Builds an encoder, tower or expert from its spec: an MLP or conv spec (core's blocks, seeded from
 * `rng`), a factory (called with a seed drawn from `rng`), or a LayerModule used as it is.
 *
 * @throws MtlError BAD_CONFIG for an invalid input shape or spec, a factory that returns no
 *   LayerModule, or an instance where `allowInstance` is false.
 */
export function buildModule(spec: ModuleSpec, context: BuildModuleContext): LayerModule {
  const inputSize = context.inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(inputSize) || inputSize <= 0) {
    throw new MtlError('BAD_CONFIG', `${context.what}: input shape must be positive integers, got [${context.inputShape.join(', ')}]`);
  }
  if (isFactory(spec)) {
    const module = spec.create({ inputShape: [...context.inputShape], seed: context.rng.nextSeed(), scope: context.scope });
    if (!isModule(module)) throw new MtlError('BAD_CONFIG', `${context.what}: the factory's create() must return a LayerModule (apply, variables, lastLayerVariables, outputShape)`);
    return module;
  }
  if (isModule(spec)) {
    if (context.allowInstance === false) {
      throw new MtlError(
        'BAD_CONFIG',
        `${context.what}: needs one module per copy, so it takes a spec ({ type: 'mlp' | 'conv', ... }) or a factory ({ type: 'factory', create }), not a LayerModule instance`,
      );
    }
    return spec;
  }
  const typed = spec as { type?: unknown } | undefined;
  if (typed?.type === 'mlp') {
    const mlp = spec as MlpSpec;
    if (!Array.isArray(mlp.units) || mlp.units.length === 0) {
      throw new MtlError('BAD_CONFIG', `${context.what}: an MLP needs at least one layer (units: [..])`);
    }
    return new DenseStack({
      inputSize,
      units: mlp.units,
      activation: mlp.activation ?? 'relu',
      outputActivation: mlp.outputActivation ?? mlp.activation ?? 'relu',
      scope: context.scope,
      rng: context.rng,
    });
  }
  if (typed?.type === 'conv') return new ConvStack({ spec: spec as never, inputShape: context.inputShape, scope: context.scope, rng: context.rng });
  throw new MtlError(
    'BAD_CONFIG',
    `${context.what}: expected { type: 'mlp', units }, { type: 'conv', blocks }, a factory { type: 'factory', create } or a LayerModule, got ${JSON.stringify(typed?.type ?? typeof spec)}`,
  );
}

/** Two modules in sequence (a factory's hidden layers, then the head's output layer). */
class ModuleChain implements LayerModule {
  constructor(private readonly first: LayerModule, private readonly second: LayerModule) {}
  apply(input: Tensor, options: ApplyOptions): Tensor {
    return this.second.apply(this.first.apply(input, options), options);
  }
  variables(): Variable[] {
    return [...this.first.variables(), ...this.second.variables()];
  }
  lastLayerVariables(): Variable[] {
    return this.second.lastLayerVariables();
  }
  outputShape(inputShape: readonly number[]): number[] {
    return this.second.outputShape(this.first.outputShape(inputShape));
  }
  dispose(): void {
    this.first.dispose?.();
    this.second.dispose?.();
  }
}

/** What {@link buildHead} needs besides the spec. */
export interface BuildHeadContext {
  /** One example's feature shape (the head's input). */
  featureShape: readonly number[];
  /** Output width: the task's units. */
  units: number;
  /** Source of the initial values (and of a factory's seed); advanced by the build. */
  rng: Rng;
  /** Variable-name prefix, unique among live variables (see uniqueScope). */
  scope: string;
  /** What is being built, for error messages (e.g. "hard sharing head of task 'price'"). */
  what: string;
}

/**
 * A task head: the spec's hidden layers (MLP widths, or a factory's module), then a linear output
 * layer `units` wide. No spec: the output layer alone.
 *
 * @throws MtlError BAD_CONFIG when the spec is neither an MLP spec nor a factory.
 */
export function buildHead(spec: MlpSpec | LayerModuleFactory | undefined, context: BuildHeadContext): LayerModule {
  const featureSize = context.featureShape.reduce((a, b) => a * b, 1);
  if (isFactory(spec)) {
    const hidden = buildModule(spec, { inputShape: context.featureShape, rng: context.rng, scope: `${context.scope}/hidden`, what: context.what });
    const hiddenSize = hidden.outputShape(context.featureShape).reduce((a, b) => a * b, 1);
    const output = new DenseStack({ inputSize: hiddenSize, units: [context.units], activation: 'linear', outputActivation: 'linear', scope: `${context.scope}/output`, rng: context.rng });
    return new ModuleChain(hidden, output);
  }
  const mlp = spec ?? { type: 'mlp' as const, units: [] };
  if ((mlp as { type?: unknown }).type !== 'mlp' || !Array.isArray(mlp.units)) {
    throw new MtlError('BAD_CONFIG', `${context.what}: a head is { type: 'mlp', units: [hidden widths] } or a factory { type: 'factory', create }`);
  }
  return new DenseStack({
    inputSize: featureSize,
    units: [...mlp.units, context.units],
    activation: mlp.activation ?? 'relu',
    outputActivation: 'linear',
    scope: context.scope,
    rng: context.rng,
  });
}
