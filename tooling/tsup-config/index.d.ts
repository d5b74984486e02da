import type { Options } from 'tsup';
export declare function libraryConfig(overrides?: Options): Options;
export declare function appConfig(overrides?: Options): Options;
