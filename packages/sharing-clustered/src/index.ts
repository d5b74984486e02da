export { clustered } from './clustered';
export type { ClusteredOptions, WarmupOptions } from './clustered';
export { measureTaskAffinity } from './affinity';
export type { AffinityResult, AffinityTrainingOptions, MeasureAffinityOptions } from './affinity';
export { EXHAUSTIVE_TASK_LIMIT, groupingScore, partitionTasks } from './partition';
export type { PartitionResult } from './partition';
export type { AddTaskOptions, ClusteredMultiTaskModel, ClusteringReport } from './model';
