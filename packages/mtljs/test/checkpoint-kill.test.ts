import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Trainer, hardSharing, readCheckpointFile, useBackend } from '../src/index';

const CHILD = fileURLToPath(new URL('./kill-child.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mtljs-kill-'));
const path = join(dir, 'run.mtlckpt');

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Starts the writer, lets it finish `complete` writes, then SIGKILLs it `delayMs` after the
 * temporary file of its next write appears. Resolves with the steps whose write finished.
 */
function killDuringWrite(first: number, complete: number, delayMs: number): Promise<{ wrote: number[]; killedDuring: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, path, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const wrote: number[] = [];
    let killedDuring = -1;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, step] = line.split(' ');
        if (word === 'wrote') wrote.push(Number(step));
        if (word === 'writing' && wrote.length >= complete && killedDuring < 0) {
          killedDuring = Number(step);
          // Wait for the temporary file to appear (the write has begun), then kill after delayMs.
          const poll = setInterval(() => {
            if (!readdirSync(dir).some((name) => name.includes('.tmp-'))) return;
            clearInterval(poll);
            setTimeout(() => child.kill('SIGKILL'), delayMs);
          }, 0);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ wrote, killedDuring });
      else reject(new Error(`the writer exited with ${code ?? signal} before it was killed: ${stderr}`));
    });
  });
}

describe('a checkpoint writer killed with SIGKILL mid-write', () => {
  it('leaves the previous checkpoint whole and loadable, round after round', async () => {
    const tasks = [
      { name: 'a', kind: 'regression' as const, units: 1 },
      { name: 'b', kind: 'regression' as const, units: 1 },
    ];
    const model = hardSharing().build({ tasks, inputShape: [1024], encoder: { type: 'mlp', units: [1024, 64] } }, { seed: 3 });
    const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 1e-3 }, seed: 3 });
    let interrupted = 0;
    let first = 0;
    try {
      // Kill delays from "as the temporary file appears" to well inside the ~13 MB write and its fsync.
      for (const delayMs of [0, 3, 10]) {
        const { wrote, killedDuring } = await killDuringWrite(first, 2, delayMs);
        const leftovers = readdirSync(dir).filter((name) => name.includes('.tmp-'));
        if (leftovers.length) interrupted += 1;
        const checkpoint = await readCheckpointFile(path);
        const written = checkpoint.manifest.meta?.['write'] as number;
        // Either the last finished write, or the killed one if its rename had already happened.
        expect([wrote[wrote.length - 1], killedDuring]).toContain(written);
        expect(checkpoint.manifest.step).toBe(written - first + 1);
        await trainer.loadCheckpoint(checkpoint);
        expect(trainer.stepCount).toBe(written - first + 1);
        leftovers.forEach((name) => rmSync(join(dir, name)));
        first = written + 100;
      }
    } finally {
      trainer.dispose();
      model.dispose();
    }
    // At least one kill landed while a temporary file was half written: the case the rename protects.
    console.log(`SIGKILL rounds: 3, with a half-written temporary file: ${interrupted}`);
    expect(interrupted).toBeGreaterThan(0);
  }, 120_000);
});
