import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpointFile, type Checkpoint } from '../src/index';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./resume-child.mjs', import.meta.url));
const WEIGHTINGS = ['ew', 'uncertainty', 'gradnorm', 'pcgrad'];
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Every stored tensor by group and name, as float32 or int32 values. */
function tensors(checkpoint: Checkpoint): Map<string, Float32Array | Int32Array> {
  const out = new Map<string, Float32Array | Int32Array>();
  for (const entry of checkpoint.manifest.tensors) {
    const bytes = checkpoint.data.slice(entry.offset, entry.offset + entry.byteLength);
    out.set(`${entry.group}/${entry.name}`, entry.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer));
  }
  return out;
}

function maxAbsDifference(a: Checkpoint, b: Checkpoint): number {
  const left = tensors(a);
  const right = tensors(b);
  expect([...right.keys()]).toEqual([...left.keys()]);
  let max = 0;
  for (const [key, values] of left) {
    const other = right.get(key)!;
    expect(other.length, key).toBe(values.length);
    values.forEach((v, i) => (max = Math.max(max, Math.abs(v - other[i]!))));
  }
  return max;
}

// Acceptance (issue 10): 2N steps straight vs N steps, checkpoint, a new process, resume, N more.
// The checkpoint falls inside an epoch (step 9 of 18, 6 batches per shuffled epoch), so the
// resumed fit must redraw that epoch's shuffle and skip the batches already done.
describe.each([
  { backend: 'cpu', tolerance: 0 },
  { backend: 'wasm', tolerance: 1e-6 },
])('resume in a new process on $backend', ({ backend, tolerance }) => {
  it(`ends with the variables of the uninterrupted run for ${WEIGHTINGS.join(', ')}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `mtljs-resume-${backend}-`));
    dirs.push(dir);
    await run(process.execPath, [CHILD, 'straight', backend, dir, WEIGHTINGS.join(',')]);
    await run(process.execPath, [CHILD, 'resume', backend, dir, WEIGHTINGS.join(',')]);
    for (const weighting of WEIGHTINGS) {
      const mid = await readCheckpointFile(join(dir, `${weighting}-mid.mtlckpt`));
      const straight = await readCheckpointFile(join(dir, `${weighting}-straight.mtlckpt`));
      const resumed = await readCheckpointFile(join(dir, `${weighting}-resumed.mtlckpt`));
      expect(mid.manifest.step).toBe(9);
      expect(mid.manifest.position?.batch).toBe(3);
      expect([straight.manifest.step, straight.manifest.epoch]).toEqual([18, 3]);
      expect([resumed.manifest.step, resumed.manifest.epoch]).toEqual([18, 3]);
      // The second half did train: the variables moved from the checkpoint's.
      expect(maxAbsDifference(mid, straight)).toBeGreaterThan(1e-4);
      const difference = maxAbsDifference(straight, resumed);
      if (tolerance === 0) expect(Buffer.compare(Buffer.from(straight.data), Buffer.from(resumed.data)), `${weighting}: data bytes`).toBe(0);
      expect(difference, weighting).toBeLessThanOrEqual(tolerance);
      // Weighting state (PCGrad's RNG, GradNorm's initial losses…), the trainer's RNG and Adam's β^t.
      expect(resumed.manifest.weighting.state, weighting).toEqual(straight.manifest.weighting.state);
      expect(resumed.manifest.rng).toEqual(straight.manifest.rng);
      expect(resumed.manifest.optimizer).toEqual(straight.manifest.optimizer);
    }
  }, 120_000);
});
