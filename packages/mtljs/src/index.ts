import { defaultRegistry, equalWeighting, staticWeighting, type Plugin, type Registry } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { webgpuBackend } from '@mtljs/backend-webgpu';
import { nodeBackend } from '@mtljs/backend-node';
import { csvAdapter } from '@mtljs/data-csv';
import { jsonlAdapter } from '@mtljs/data-jsonl';
import { idxAdapter } from '@mtljs/data-idx';
import { multiFashionDataset, multiMnistDataset, syntheticDataset } from '@mtljs/datasets';
import { hardSharing } from '@mtljs/sharing-hard';
import { softSharing } from '@mtljs/sharing-soft';
import { crossStitch } from '@mtljs/sharing-cross-stitch';
import { mmoe } from '@mtljs/sharing-mmoe';
import { ple } from '@mtljs/sharing-ple';
import { dselectK } from '@mtljs/sharing-dselect-k';
import { mtan } from '@mtljs/sharing-mtan';
import { clustered } from '@mtljs/sharing-clustered';
import { uncertainty } from '@mtljs/weighting-uncertainty';
import { gradnorm } from '@mtljs/weighting-gradnorm';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { dwa } from '@mtljs/weighting-dwa';
import { rlw } from '@mtljs/weighting-rlw';
import { mgda } from '@mtljs/weighting-mgda';
import { upgrad } from '@mtljs/weighting-upgrad';
import { dualproj } from '@mtljs/weighting-dualproj';
import { cagrad } from '@mtljs/weighting-cagrad';
import { imtlG } from '@mtljs/weighting-imtl-g';
import { nashMtl } from '@mtljs/weighting-nash-mtl';
import { alignedMtl } from '@mtljs/weighting-aligned-mtl';
import { gradvac } from '@mtljs/weighting-gradvac';
import { conFig } from '@mtljs/weighting-config';
import { graddrop } from '@mtljs/weighting-graddrop';
import { famo } from '@mtljs/weighting-famo';
import { dbMtl } from '@mtljs/weighting-db-mtl';
import { gls } from '@mtljs/weighting-gls';

export * from '@mtljs/core';
export { cpuBackend } from '@mtljs/backend-cpu';
export { wasmBackend } from '@mtljs/backend-wasm';
export { webgpuBackend } from '@mtljs/backend-webgpu';
export { nodeBackend } from '@mtljs/backend-node';
export { csvAdapter, csvSource, fitCsvSchema } from '@mtljs/data-csv';
export { fitJsonlSchema, jsonlAdapter, jsonlSource } from '@mtljs/data-jsonl';
export { idxAdapter, idxSource } from '@mtljs/data-idx';
export { multiFashion, multiFashionDataset, multiLeNetSpec, multiMnist, multiMnistDataset, syntheticDataset, syntheticTasks } from '@mtljs/datasets';
export { hardSharing } from '@mtljs/sharing-hard';
export { softSharing } from '@mtljs/sharing-soft';
export { crossStitch } from '@mtljs/sharing-cross-stitch';
export { mmoe } from '@mtljs/sharing-mmoe';
export { ple } from '@mtljs/sharing-ple';
export { dselectK } from '@mtljs/sharing-dselect-k';
export { mtan } from '@mtljs/sharing-mtan';
export { clustered, measureTaskAffinity } from '@mtljs/sharing-clustered';
export { uncertainty } from '@mtljs/weighting-uncertainty';
export { gradnorm } from '@mtljs/weighting-gradnorm';
export { pcgrad } from '@mtljs/weighting-pcgrad';
export { dwa } from '@mtljs/weighting-dwa';
export { rlw } from '@mtljs/weighting-rlw';
export { mgda } from '@mtljs/weighting-mgda';
export { upgrad } from '@mtljs/weighting-upgrad';
export { dualproj } from '@mtljs/weighting-dualproj';
export { cagrad } from '@mtljs/weighting-cagrad';
export { imtlG } from '@mtljs/weighting-imtl-g';
export { nashMtl } from '@mtljs/weighting-nash-mtl';
export { alignedMtl } from '@mtljs/weighting-aligned-mtl';
export { gradvac } from '@mtljs/weighting-gradvac';
export { conFig } from '@mtljs/weighting-config';
export { graddrop } from '@mtljs/weighting-graddrop';
export { famo } from '@mtljs/weighting-famo';
export { dbMtl } from '@mtljs/weighting-db-mtl';
export { gls } from '@mtljs/weighting-gls';

/** The standard plugins, each with its default options, in the order they are registered. */
export function standardPlugins(): Plugin[] {
  return [
    hardSharing(),
    softSharing(),
    crossStitch(),
    mmoe(),
    ple(),
    dselectK(),
    mtan(),
    clustered(),
    equalWeighting(),
    staticWeighting({ weights: {} }),
    uncertainty(),
    gradnorm(),
    pcgrad(),
    dwa(),
    rlw(),
    mgda(),
    upgrad(),
    dualproj(),
    cagrad(),
    imtlG(),
    nashMtl(),
    alignedMtl(),
    gradvac(),
    conFig(),
    graddrop(),
    famo(),
    dbMtl(),
    gls(),
    csvAdapter(),
    jsonlAdapter(),
    idxAdapter(),
    syntheticDataset(),
    multiMnistDataset(),
    multiFashionDataset(),
    cpuBackend(),
    wasmBackend(),
    webgpuBackend(),
    nodeBackend(),
  ];
}

/**
 * Registers the standard plugins that are not registered yet (a plugin of the same kind and name
 * already there, the user's own say, is kept). Returns the names registered, as `kind:name`.
 */
export function registerStandardPlugins(registry: Registry = defaultRegistry()): string[] {
  const added: string[] = [];
  for (const plugin of standardPlugins()) {
    if (registry.has(plugin.kind, plugin.name)) continue;
    registry.register(plugin);
    added.push(`${plugin.kind}:${plugin.name}`);
  }
  return added;
}

// Importing the umbrella registers the standard set in the default registry, so configurations
// can name any of them ('hard', 'pcgrad', 'csv', 'multi-mnist', 'wasm', …).
registerStandardPlugins();
