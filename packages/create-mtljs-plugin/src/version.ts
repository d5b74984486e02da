// Replaced at build time (tsup.config.ts, vitest.config.ts) with the version of the workspace's
// @mtljs/core, so that a released create-mtljs-plugin scaffolds packages for its own release.
declare const __MTLJS_VERSION__: string;

/** Version of the @mtljs packages released together with this tool. */
export const MTLJS_VERSION: string = __MTLJS_VERSION__;
