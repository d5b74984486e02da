export { syntheticTasks } from './synthetic';
export type { SyntheticDataset, SyntheticOptions } from './synthetic';
export { composePairs, FASHION_MNIST_ROOT, multiFashion, multiLeNetSpec, multiMnist } from './multi-mnist';
export type { MultiDigitDataset, MultiDigitOptions } from './multi-mnist';
export { multiFashionDataset, multiMnistDataset, syntheticDataset } from './plugins';
