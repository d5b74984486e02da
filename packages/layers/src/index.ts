export { fromLayersModel, layersFactory } from './layers';
export type { LayersFactoryOptions, LayersModelContext, LayersModuleOptions, LayersTrainingMode } from './layers';
