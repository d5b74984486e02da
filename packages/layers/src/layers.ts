import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { checkOptions, isMtlError, MtlError, type ApplyOptions, type LayerModule, type LayerModuleFactory, type ModuleContext } from '@mtljs/core';

/**
 * How the wrapped model runs while mtljs trains: `'follow'` passes the engine's `training` flag to
 * `model.apply` (dropout active and batch-norm on batch statistics while training); `'inference'`
 * always runs it with `training: false` (no dropout, batch-norm on its moving statistics, which
 * then never change: the usual way to fine-tune a pretrained network with frozen statistics).
 */
export type LayersTrainingMode = 'follow' | 'inference';

/** Options of `fromLayersModel`; an unknown or ill-typed option is BAD_CONFIG. */
export interface LayersModuleOptions {
  /** Names the module in error messages (default: the model's own `name`). */
  name?: string;
  /** Default 'follow'. */
  training?: LayersTrainingMode;
  /**
   * Whether the module's dispose() (called by the mtljs model's dispose()) disposes the layers
   * model and its weights (default true). Pass false to keep using the model afterwards; you then
   * dispose it yourself.
   */
  disposeModel?: boolean;
}

/** Options of `layersFactory`, applied to every module it creates; an unknown or ill-typed option is BAD_CONFIG. */
export interface LayersFactoryOptions {
  /** Names the modules in error messages (default: each model's own `name`). */
  name?: string;
  /** Default 'follow'. */
  training?: LayersTrainingMode;
}

/** What a factory's function receives: one example's input shape, a seed, a unique name prefix. */
export type LayersModelContext = ModuleContext;

const MODULE_OPTIONS = ['name', 'training', 'disposeModel'] as const;
const FACTORY_OPTIONS = ['name', 'training'] as const;
const WHERE = 'layers adapter';

/** A tfjs-layers shape: `null` where a dimension is free (the batch dimension, variable sizes). */
type LayersShape = (number | null)[];

function formatShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;
}

function isLayersModel(value: unknown): value is LayersModel {
  if (typeof value !== 'object' || value === null) return false;
  const model = value as Partial<LayersModel>;
  return typeof model.apply === 'function' && typeof model.dispose === 'function' && Array.isArray(model.layers) && 'trainableWeights' in model;
}

function checkTrainingMode(where: string, mode: unknown): LayersTrainingMode {
  if (mode === undefined) return 'follow';
  if (mode !== 'follow' && mode !== 'inference') {
    throw new MtlError('BAD_CONFIG', `${where}: option 'training' must be 'follow' or 'inference', got ${JSON.stringify(mode)}`, {
      option: 'training',
      received: mode,
    });
  }
  return mode;
}

/** True when every fixed dimension of `accepted` equals the one in `given` (null matches any size). */
function shapeAccepts(accepted: LayersShape, given: readonly number[]): boolean {
  return accepted.length === given.length && accepted.every((d, i) => d === null || d === given[i]);
}

/**
 * A tfjs-layers model as an mtljs LayerModule. The module's variables are the model's own
 * tf.Variables (what `LayerVariable.read()` returns), so an mtljs optimiser step updates the model
 * itself: `model.getWeights()` and `model.predict()` see every change.
 */
class LayersModule implements LayerModule {
  private readonly model: LayersModel;
  private readonly label: string;
  private readonly mode: LayersTrainingMode;
  private readonly disposeModel: boolean;
  /** One example's input shape as the model declares it (batch dimension removed). */
  readonly acceptedShape: LayersShape;
  private disposed = false;

  constructor(model: unknown, options: LayersModuleOptions) {
    checkOptions(WHERE, options, MODULE_OPTIONS);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new MtlError('BAD_CONFIG', `${WHERE}: option 'name' must be a non-empty string`, { option: 'name' });
    }
    if (options.disposeModel !== undefined && typeof options.disposeModel !== 'boolean') {
      throw new MtlError('BAD_CONFIG', `${WHERE}: option 'disposeModel' must be true or false, got ${JSON.stringify(options.disposeModel)}`, {
        option: 'disposeModel',
      });
    }
    if (!isLayersModel(model)) {
      throw new MtlError(
        'BAD_CONFIG',
        `${WHERE}: expected a tfjs-layers LayersModel (tf.sequential(...) or tf.model(...)), got ${model === null ? 'null' : typeof model === 'object' ? 'an object without apply/layers/trainableWeights' : typeof model}`,
      );
    }
    this.model = model;
    this.label = `layers model '${options.name ?? model.name}'`;
    this.mode = checkTrainingMode(this.label, options.training);
    this.disposeModel = options.disposeModel ?? true;

    const inputs = model.inputs ?? [];
    const outputs = model.outputs ?? [];
    if (inputs.length === 0 || outputs.length === 0) {
      throw new MtlError(
        'BAD_CONFIG',
        `${this.label} is not built: it has no input shape. Give its first layer an inputShape (in a layersFactory: inputShape: [...context.inputShape])`,
      );
    }
    if (outputs.length !== 1) {
      throw new MtlError(
        'BAD_CONFIG',
        `${this.label} has ${outputs.length} outputs; an mtljs encoder or head maps one tensor to one tensor. Wrap one output per model, or concatenate them in the model`,
        { received: outputs.length },
      );
    }
    if (inputs.length !== 1) {
      throw new MtlError('BAD_CONFIG', `${this.label} has ${inputs.length} inputs; an mtljs encoder or head takes one input tensor`, {
        received: inputs.length,
      });
    }
    this.acceptedShape = inputs[0]!.shape.slice(1);
    // Two copies of tfjs-core in one application give the model variables this copy does not
    // recognise; the engine's instanceof checks and gradient tape would then fail obscurely.
    for (const weight of model.trainableWeights) {
      if (!(weight.read() instanceof tf.Variable)) {
        throw new MtlError(
          'BAD_CONFIG',
          `${this.label}: its weight '${weight.name}' is not a tf.Variable of the @tensorflow/tfjs-core that @mtljs/layers uses; two copies of tfjs-core are installed (make it a single peer dependency)`,
        );
      }
    }
  }

  /**
   * Throws SHAPE_MISMATCH, naming both shapes, when `inputShape` (one example, as the strategy
   * gives it) is not what the model takes.
   */
  checkInputShape(inputShape: readonly number[], where = 'the strategy gives it inputs of shape'): void {
    if (!shapeAccepts(this.acceptedShape, inputShape)) {
      throw new MtlError(
        'SHAPE_MISMATCH',
        `${this.label} takes examples of shape ${formatShape(this.acceptedShape)} (its input shape without the batch dimension), but ${where} ${formatShape(inputShape)}`,
        { expected: this.acceptedShape, received: [...inputShape] },
      );
    }
  }

  private assertLive(what: string): void {
    if (this.disposed) throw new MtlError('BAD_CONFIG', `${this.label}: ${what} after dispose()`);
  }

  apply(input: Tensor, options: ApplyOptions): Tensor {
    this.assertLive('apply()');
    if (!(input instanceof tf.Tensor)) {
      throw new MtlError('BAD_DATA', `${this.label}: apply() takes one tensor, got ${Array.isArray(input) ? 'an array' : typeof input}`);
    }
    if (input.rank !== this.acceptedShape.length + 1 || !shapeAccepts(this.acceptedShape, input.shape.slice(1))) {
      throw new MtlError(
        'SHAPE_MISMATCH',
        `${this.label} takes inputs of shape ${formatShape(['N', ...this.acceptedShape])}, got ${formatShape(input.shape)}`,
        { expected: this.acceptedShape, received: input.shape },
      );
    }
    const training = this.mode === 'follow' && options?.training === true;
    let output: unknown;
    try {
      output = tf.tidy(() => this.model.apply(input, { training }) as Tensor);
    } catch (error) {
      if (isMtlError(error)) throw error;
      throw new MtlError('BAD_DATA', `${this.label} failed on inputs of shape ${formatShape(input.shape)}: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
    }
    if (!(output instanceof tf.Tensor)) {
      throw new MtlError('BAD_CONFIG', `${this.label}: apply() did not return one tensor`);
    }
    return output;
  }

  variables(): Variable[] {
    if (this.disposed) return [];
    // Read at each call, so a layer set to `trainable = false` before the trainer starts drops out.
    return this.model.trainableWeights.map((weight) => weight.read() as Variable);
  }

  lastLayerVariables(): Variable[] {
    if (this.disposed) return [];
    for (let i = this.model.layers.length - 1; i >= 0; i--) {
      const weights = this.model.layers[i]!.trainableWeights;
      if (weights.length > 0) return weights.map((weight) => weight.read() as Variable);
    }
    return [];
  }

  outputShape(inputShape: readonly number[]): number[] {
    this.checkInputShape(inputShape);
    const declared = this.model.outputs[0]!.shape.slice(1);
    if (declared.every((d): d is number => typeof d === 'number')) return declared;
    // Free dimensions (e.g. a conv net on inputs of any size): resolve them for this input.
    const computed = this.model.computeOutputShape([null, ...inputShape]);
    const shape = (Array.isArray(computed[0]) ? computed[0] : computed) as LayersShape;
    const example = shape.slice(1);
    if (!example.every((d): d is number => typeof d === 'number' && d > 0)) {
      throw new MtlError('BAD_CONFIG', `${this.label}: its output shape ${formatShape(example)} for inputs ${formatShape(inputShape)} is not fully known`, {
        received: example,
      });
    }
    return example;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.disposeModel) this.model.dispose();
  }
}

/**
 * Wraps one tfjs-layers model (`tf.sequential`, `tf.model`) as an mtljs LayerModule, usable as a
 * ModelSpec encoder (a strategy that needs one copy, e.g. hard sharing). Its variables are the
 * model's trainable weights, the same tf.Variable objects, so training through mtljs trains the
 * model. Refuses (MtlError BAD_CONFIG) models with several inputs or outputs, and unbuilt ones.
 */
export function fromLayersModel(
  model: LayersModel,
  options: LayersModuleOptions = {},
): LayerModule & {
  /** Releases the module (disposing the layers model too unless `disposeModel: false`); later calls do nothing. */
  dispose(): void;
} {
  return new LayersModule(model, options);
}

/**
 * A LayerModuleFactory from a function that builds a fresh tfjs-layers model: strategies call it
 * once per copy they need (each model, tower, expert or head), with one example's input shape, a
 * seed for the initialisers and a unique name prefix. The model's input shape must match the
 * shape it is given (MtlError SHAPE_MISMATCH otherwise). Use it as `spec.encoder` or `spec.head`.
 */
export function layersFactory(create: (context: LayersModelContext) => LayersModel, options: LayersFactoryOptions = {}): LayerModuleFactory {
  if (typeof create !== 'function') {
    throw new MtlError('BAD_CONFIG', `layersFactory: expected a function (context) => LayersModel, got ${create === null ? 'null' : typeof create}`);
  }
  checkOptions('layersFactory', options, FACTORY_OPTIONS);
  checkTrainingMode('layersFactory', options.training);
  return {
    type: 'factory',
    create(context: ModuleContext): LayerModule {
      let model: LayersModel;
      try {
        model = create({ inputShape: [...context.inputShape], seed: context.seed, scope: context.scope });
      } catch (error) {
        if (isMtlError(error)) throw error;
        throw new MtlError('BAD_CONFIG', `layersFactory: the model function threw: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
      }
      let module: LayersModule | undefined;
      try {
        module = new LayersModule(model, { ...options, disposeModel: true });
        module.checkInputShape(context.inputShape);
        return module;
      } catch (error) {
        // The model was made for this module alone: free its weights when it cannot be used.
        if (isLayersModel(model)) {
          try {
            model.dispose();
          } catch {
            // an unbuilt model has nothing to free
          }
        }
        throw error;
      }
    },
  };
}
