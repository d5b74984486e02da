export {
  finiteOrNull,
  formatRecord,
  RUN_LOG_VERSION,
  taskValues,
} from './run-log';
export type {
  CheckpointRecord,
  CosineRecord,
  EpochRecord,
  EvalRecord,
  RunEndRecord,
  RunLog,
  RunLogRecord,
  RunStartRecord,
  RunTask,
  StepRecord,
  TaskEvaluationRecord,
  TaskValues,
  WarningRecord,
} from './run-log';
export { parseRunLog, readRunLog } from './run-log-reader';
export { cosineRecord, evaluationRecord, RunLogWriter, runLogFileSink } from './run-log-writer';
export type { RunLogCallbackOptions, RunLogSink, RunStartFields } from './run-log-writer';
export { lineChart } from './line-chart';
export type { LineChartOptions, LineSeries } from './line-chart';
export { heatmap } from './heatmap';
export type { HeatmapOptions } from './heatmap';
export { barChart } from './bar-chart';
export type { BarChartOptions } from './bar-chart';
export { downsample, MAX_POINTS, smooth, smoothingSpan } from './series';
export type { Point } from './series';
export { collectBaselines, deltaMRow, finalEvaluation, meanCosines } from './report-data';
export type { Baseline, DeltaMRow, FinalEvaluation, MeanCosines } from './report-data';
export { renderReport } from './render-report';
export type { RenderReportOptions } from './render-report';
export { escapeHtml, PALETTE } from './svg';
