import './setup-gradients';

export { API_VERSION, SUPPORTED_API_VERSIONS } from './contracts';
export type {
  ActivationName,
  ApplyOptions,
  Backend,
  Batch,
  BuildOptions,
  DataAdapter,
  DatasetPlugin,
  LoadedDataset,
  ConvBlockSpec,
  ConvSpec,
  DataSource,
  Features,
  ForwardResult,
  GradientSite,
  GramianWeighting,
  Inputs,
  JacobianWeighting,
  LayerModule,
  RecordedPass,
  LayerModuleFactory,
  ModuleContext,
  ModuleSpec,
  LossName,
  LossStepInfo,
  LossWeighting,
  MetricName,
  MlpSpec,
  ModelSpec,
  MultiTaskModel,
  PerExampleLoss,
  Plugin,
  PluginReference,
  SharingStrategy,
  StepInfo,
  StepReport,
  TaskGramian,
  TaskKind,
  TaskSpec,
  Weighting,
  WeightingContext,
  WeightingLevel,
  WeightingDiagnostics,
  WeightsResult,
} from './contracts';
export { MtlError, isMtlError } from './errors';
export type { MtlErrorCode, MtlErrorDetails } from './errors';
export { Rng } from './rng';
export type { RngState } from './rng';
export { Registry, checkOptionTaskNames, checkOptions, createRegistry, defaultRegistry, register } from './registry';
export type { KindOf, PluginKinds, RegisterOptions } from './registry';
export { TrainStepEngine, labelledCounts, prepareBatch } from './engine';
export type { EngineOptions, FreezeOptions, NonFinitePolicy, PreparedBatch, TaskGradients } from './engine';
export { Trainer, evaluateModel } from './trainer';
export type {
  EpochReport,
  EvaluationReport,
  FitOptions,
  OptimizerSpec,
  TaskEvaluation,
  TrainerCallbacks,
  TrainerOptions,
} from './trainer';
export {
  binaryCrossEntropy,
  canonicalTarget,
  huber,
  lossFor,
  maskedMean,
  meanAbsoluteError,
  meanSquaredError,
  softmaxCrossEntropy,
} from './losses/losses';
export { createMetric, metricNamesFor } from './losses/metrics';
export type { MetricAccumulator } from './losses/metrics';
export { equalWeighting, staticWeighting } from './weighting/builtin';
export type { EqualWeightingOptions, StaticWeightingOptions } from './weighting/builtin';
export { cosineFromGramian, gramian, scaleGradient } from './gradient-math';
export { deltaM, metricDirection } from './losses/delta-m';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkManifest,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpointFile,
  writeCheckpointFile,
} from './checkpoint';
export type { Checkpoint, CheckpointGroup, CheckpointManifest, CheckpointTensor } from './checkpoint';
export {
  checkpointFromBlob,
  checkpointToBlob,
  deleteCheckpointIndexedDB,
  listCheckpointsIndexedDB,
  readCheckpointIndexedDB,
  writeCheckpointIndexedDB,
} from './checkpoint-storage';
export type { IndexedDbCheckpointOptions } from './checkpoint-storage';
export { dense } from './nn/dense';
export { DenseStack } from './nn/mlp';
export { isHostBackend, sliceEqual, sliceParts } from './nn/slices';
export { ConvStack, conv2d, layerNorm } from './nn/conv';
export type { ConvStackOptions } from './nn/conv';
export { buildHead, buildModule } from './nn/build';
export { WeightTable } from './nn/weights';
export { fileChunks, gunzipChunks, pipeThrough } from './data/byte-streams';
export { checkTaskSpecs, singleInput } from './nn/spec-checks';
export type { BuildHeadContext, BuildModuleContext } from './nn/build';
export type { DenseStackOptions } from './nn/mlp';
export { activate } from './nn/activations';
export { glorotUniform, heUniform, uniqueScope, variableFrom } from './nn/init';
export { disposeBatch, fromArrays } from './data/memory';
export type { MemoryData, MemorySourceOptions, NumericRows } from './data/memory';
export { assertBackend, BACKEND_PRIORITY, currentBackend, setTfjsBackend, useBackend } from './backend';
export type { BackendCandidate, BackendChoice, UseBackendOptions } from './backend';
export {
  choleskySolve,
  dot,
  dualConeProjections,
  dualConeProjectionWeights,
  matVec,
  minNormPoint,
  nearestPositiveSemidefinite,
  nonnegativeQp,
  prepareNonnegativeQp,
  projectToSimplex,
  repairedPositiveSemidefinite,
  symmetricEigen,
} from './solvers';
export { activePreference, checkPreference, checkPreferenceOptions, checkPreferenceTasks } from './weighting/preference';
export type { PreferenceOptions, TaskPreference } from './weighting/preference';
export type { Matrix, NonnegativeQpOptions, NonnegativeQpResult, PreparedNonnegativeQp, SolverReport } from './solvers';
export { fitRecordSchema, recordColumns, RecordSchema } from './data/records';
export type {
  CellValue,
  ColumnType,
  InputColumnJSON,
  InputColumnSpec,
  MissingPolicy,
  RecordMapping,
  RecordRow,
  RecordSchemaJSON,
  RowEncoder,
  RowLayout,
  SchemaOptions,
  TaskColumnJSON,
  TaskColumnSpec,
} from './data/records';
export { dataAdapter } from './data/adapter';
export { asByteInput, byteRecordInput, chunksOf, isChunkSource, recordBatches, recordSource } from './data/record-source';
export type { ByteInput, ByteInputOptions, ChunkSource, RecordBatchOptions, RecordDataSource, RecordInput, RecordSourceOptions } from './data/record-source';
