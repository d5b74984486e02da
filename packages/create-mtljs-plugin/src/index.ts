export { generatePlugin, scaffoldPlugin, findTarball } from './generate';
export type { GeneratedPackage } from './generate';
export { parseArguments, nameProblem, isPluginKind, ScaffoldError, PLUGIN_KINDS, TFJS_VERSION, USAGE } from './options';
export type { ParsedArguments, PluginKind, ScaffoldOptions } from './options';
export { MTLJS_VERSION } from './version';
