import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The built binary: tests run what `npm install` would run (build first: `npx tsup`). */
export const BIN = join(PACKAGE_DIR, 'dist', 'bin.js');
export const SYNTHETIC = join(PACKAGE_DIR, 'examples', 'synthetic.json');

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/bin.js …args` from the package folder; stdout is a pipe, so not a TTY. */
export function mtl(args: readonly string[], options: { cwd?: string; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? PACKAGE_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      options.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function temporaryDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A config for fast tests: the synthetic example made smaller, with changes. */
export function tinyConfig(dir: string, name: string, changes: Record<string, unknown> = {}): string {
  const base = JSON.parse(readFileSync(SYNTHETIC, 'utf8')) as Record<string, unknown>;
  const config = {
    ...base,
    name,
    backend: 'wasm',
    data: { dataset: 'synthetic', options: { tasks: 2, correlation: 0.5, inputDim: 8, trainSize: 128, validationSize: 64, batchSize: 32, seed: 1 } },
    epochs: 1,
    ...changes,
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
