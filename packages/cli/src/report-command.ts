import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MtlError } from '@mtljs/core';
import { readRunLog, renderReport, type RunLog } from '@mtljs/report';
import { fileNotFound } from './exit-codes';
import { RUN_FILES } from './run';

/** Options of {@link reportRuns} (`mtl report`). */
export interface ReportOptions {
  /** Run folders (searched for log.jsonl, three levels deep) or log files. */
  inputs: readonly string[];
  /** Default: `<folder>/report.html` for one folder, else `report.html` in the working directory. */
  out?: string;
  /** Default: the run's name for one run, else 'mtljs training report'. */
  title?: string;
}

/** What {@link reportRuns} returns. */
export interface ReportResult {
  /** Absolute path of the HTML file written. */
  out: string;
  /** Absolute paths of the run logs read, without duplicates, in input order. */
  logs: string[];
  /** The parsed run logs, one per entry of `logs`. */
  runs: RunLog[];
}

const MAX_DEPTH = 3;

/** The run logs under a folder: its own log.jsonl first, then its subfolders' in name order. */
export function findRunLogs(dir: string, depth = 0): string[] {
  const found: string[] = [];
  if (existsSync(join(dir, RUN_FILES.log))) found.push(join(dir, RUN_FILES.log));
  if (depth >= MAX_DEPTH) return found;
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== RUN_FILES.checkpoints && entry.name !== 'node_modules' && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  for (const name of entries) found.push(...findRunLogs(join(dir, name), depth + 1));
  return found;
}

/** `mtl report`: one self-contained HTML page of the given runs (single-task runs serve as Δm% baselines). */
export async function reportRuns(options: ReportOptions): Promise<ReportResult> {
  if (options.inputs.length === 0) throw new MtlError('BAD_CONFIG', 'mtl report: give at least one run folder or log.jsonl file');
  const logs: string[] = [];
  for (const input of options.inputs) {
    const path = resolve(input);
    if (!existsSync(path)) throw fileNotFound(path, 'mtl report');
    if (statSync(path).isDirectory()) {
      const found = findRunLogs(path);
      if (found.length === 0) throw new MtlError('BAD_DATA', `mtl report: no run log (${RUN_FILES.log}) in ${path} or its subfolders`, { file: path, reason: 'not-found' });
      logs.push(...found);
    } else {
      logs.push(path);
    }
  }
  const unique = [...new Set(logs)];
  const runs = await Promise.all(unique.map((log) => readRunLog(log)));
  const single = options.inputs.length === 1 && statSync(resolve(options.inputs[0]!)).isDirectory();
  const out = resolve(options.out ?? (single ? join(resolve(options.inputs[0]!), RUN_FILES.report) : RUN_FILES.report));
  const multiTask = runs.filter((run) => run.run.role !== 'single-task');
  const title = options.title ?? (multiTask.length === 1 ? multiTask[0]!.run.name : 'mtljs training report');
  writeFileSync(out, renderReport({ title, runs }));
  return { out, logs: unique, runs };
}
