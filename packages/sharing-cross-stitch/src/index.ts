export { crossStitch } from './cross-stitch';
export type { CrossStitchAlphaOptions, CrossStitchModelApi, CrossStitchOptions, CrossStitchStrategy } from './cross-stitch';
