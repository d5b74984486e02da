export { syntheticTasks } from './synthetic';
export type { SyntheticDataset, SyntheticOptions } from './synthetic';
