import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MtlError, readCheckpointFile, type EvaluationReport, type Registry } from '@mtljs/core';
import { fromRaw, readJsonFile, type ConfigOverrides, type LoadedConfig } from './config';
import { openData, type RunData } from './data';
import { fileNotFound } from './exit-codes';
import type { ProgressStream } from './progress';
import { buildModel, createTrainer, finalSplit, listCheckpoints, prepare, RUN_FILES } from './run';
import { commandRegistry } from './train';

/** Options of {@link evaluateRun} (`mtl eval`). */
export interface EvaluateOptions {
  /** A run folder (its last checkpoint is used) or a checkpoint file. */
  target: string;
  /** Default: test, else validation, else train (as `mtl train`'s final evaluation). */
  split?: 'test' | 'validation' | 'train';
  /** Replaces the config's backend. */
  backend?: string;
  /** Registry that plugin names resolve from (default: core's default registry); mtljs's standard plugins and the config's `plugins` are registered in it. */
  registry?: Registry;
  /** The backend choice is printed here; nothing when absent. */
  stream?: ProgressStream;
}

/** What {@link evaluateRun} returns. */
export interface EvaluateResult {
  /** Absolute path of the checkpoint file evaluated. */
  checkpoint: string;
  /** Epochs the checkpoint had completed. */
  epoch: number;
  /** Optimiser steps the checkpoint had taken. */
  step: number;
  /** The split evaluated: `test`, `validation` or `train`. */
  split: string;
  /** Per-task loss, example count and metrics on that split. */
  report: EvaluationReport;
}

/** The checkpoint a target names: the file itself, or the last one of a run folder. */
export function checkpointOf(target: string): string {
  const path = resolve(target);
  if (!existsSync(path)) throw fileNotFound(path, 'mtl eval', 'BAD_CHECKPOINT');
  if (!statSync(path).isDirectory()) return path;
  const last = listCheckpoints(path).at(-1);
  if (!last) {
    throw new MtlError('BAD_CHECKPOINT', `mtl eval: no checkpoint in ${join(path, RUN_FILES.checkpoints)} (expected epoch-<n>.mtlckpt files written by mtl train)`, {
      file: path,
      reason: 'not-found',
    });
  }
  return last.path;
}

/**
 * `mtl eval`: rebuilds the model from the run's config (the checkpoint's own copy, else the run
 * folder's config.json), loads the checkpoint and evaluates a split.
 */
export async function evaluateRun(options: EvaluateOptions): Promise<EvaluateResult> {
  const registry = commandRegistry(options.registry);
  const checkpointPath = checkpointOf(options.target);
  const checkpoint = await readCheckpointFile(checkpointPath);
  const runDir = basename(dirname(checkpointPath)) === RUN_FILES.checkpoints ? dirname(dirname(checkpointPath)) : dirname(checkpointPath);
  const meta = checkpoint.manifest.meta ?? {};
  let raw: unknown = meta.config;
  let label = `${checkpointPath} (its config)`;
  if (raw === undefined) {
    const file = join(runDir, RUN_FILES.config);
    if (!existsSync(file)) {
      throw new MtlError('BAD_CHECKPOINT', `mtl eval: the checkpoint ${checkpointPath} holds no config and there is no ${file}`, { file: checkpointPath, reason: 'not-found' });
    }
    raw = readJsonFile(file, file);
    label = file;
  }
  let schema: unknown = meta.schema;
  if (schema === undefined && existsSync(join(runDir, RUN_FILES.schema))) schema = readJsonFile(join(runDir, RUN_FILES.schema), join(runDir, RUN_FILES.schema));
  const overrides: ConfigOverrides = options.backend !== undefined ? { backend: options.backend } : {};
  const loaded: LoadedConfig = fromRaw(raw, { label, dir: runDir }, overrides);
  await prepare(loaded, { registry, ...(options.stream ? { stream: options.stream } : {}) });
  const data = await openData(loaded, registry, schema === undefined ? {} : { schema });
  const { split, source } = pickSplit(data, options.split, label);
  const { model } = buildModel(loaded, data, registry);
  const trainer = createTrainer(loaded, model, registry);
  try {
    await trainer.loadCheckpoint(checkpoint);
    const report = await trainer.evaluate(source);
    return { checkpoint: checkpointPath, epoch: checkpoint.manifest.epoch, step: checkpoint.manifest.step, split, report };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

function pickSplit(data: RunData, split: EvaluateOptions['split'], label: string) {
  if (split === undefined) return finalSplit(data);
  const source = data[split];
  if (!source) {
    const present = (['train', 'validation', 'test'] as const).filter((s) => data[s] !== undefined);
    throw new MtlError('BAD_CONFIG', `--split ${split}: the data of ${label} has no ${split} split; it has: ${present.join(', ')}`, { field: 'split', available: present });
  }
  return { split, source };
}
