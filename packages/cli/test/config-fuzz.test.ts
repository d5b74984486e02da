import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isMtlError } from '@mtljs/core';
import { loadConfig } from '../src/config';
import { prepare } from '../src/run';
import { commandRegistry } from '../src/train';
import { PACKAGE_DIR, temporaryDir } from './helpers';

// Issue 10, acceptance 5: mutated config files give only MtlError from loading (read, JSON,
// schema, plugin names and options): never a TypeError or a hang.

const dir = temporaryDir('mtl-config-fuzz-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEED = Number(process.env['MTLJS_FUZZ_SEED'] ?? 20);
const registry = commandRegistry();
const outcomes = { rejected: 0, accepted: 0 };
let slowest = 0;
let count = 0;

const examples = [
  readFileSync(join(PACKAGE_DIR, 'examples', 'synthetic.json'), 'utf8'),
  readFileSync(join(PACKAGE_DIR, 'examples', 'csv', 'config.json'), 'utf8'),
  JSON.stringify({
    data: { dataset: 'synthetic', options: { tasks: 3 } },
    tasks: [{ name: 'task1', weight: 2 }, { name: 'task2' }],
    model: { sharing: { name: 'mmoe', options: { experts: 3 } }, encoder: { type: 'conv', blocks: [{ filters: 4, kernelSize: 3 }] }, head: { type: 'mlp', units: [4] } },
    weighting: { name: 'pcgrad', options: { reduction: 'mean' } },
    site: 'features',
    nonFinite: 'skip',
    plugins: ['./no-such-plugin.mjs'],
    epochs: 1,
  }),
];

/** Load the file as `mtl train` does (without opening data or a backend): only MtlError may escape. */
async function exercise(text: string): Promise<void> {
  const started = performance.now();
  const path = join(dir, `config-${count++ % 8}.json`);
  writeFileSync(path, text);
  try {
    const loaded = loadConfig(path);
    await prepare(loaded, { registry }, { backend: false });
    outcomes.accepted += 1;
  } catch (error) {
    if (!isMtlError(error)) throw error;
    expect(error.message.length).toBeGreaterThan(0);
    outcomes.rejected += 1;
  } finally {
    slowest = Math.max(slowest, performance.now() - started);
  }
}

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((key) => paths((value as Record<string | number, unknown>)[key], [...prefix, key]))];
}

const odd = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 0.5, 1e21, 2 ** 53, Number.MAX_SAFE_INTEGER, '', 'pcgard', 'hard', 'mlp', 'conv', 'epoch', [], {}, [0], ['x'], { name: 'ew' }, { type: 'mlp' }),
  fc.jsonValue({ maxDepth: 2 }),
);

describe('fuzzing config loading', () => {
  it('1000 structural mutations of example configs (a field replaced, deleted, added, or an array emptied): only MtlError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: examples.length - 1 }),
        fc.array(fc.record({ pick: fc.nat(), action: fc.constantFrom('replace', 'delete', 'add', 'empty'), key: fc.string({ maxLength: 8 }), value: odd }), {
          minLength: 1,
          maxLength: 3,
        }),
        async (which, edits) => {
          const config = JSON.parse(examples[which]!) as Record<string, unknown>;
          for (const { pick, action, key, value } of edits) {
            const all = paths(config);
            const path = all[pick % all.length]!;
            if (path.length === 0) continue;
            let parent: unknown = config;
            for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[step];
            const holder = parent as Record<string | number, unknown>;
            const last = path[path.length - 1]!;
            if (action === 'replace') holder[last] = value;
            else if (action === 'delete') delete holder[last];
            else if (action === 'add' && holder[last] !== null && typeof holder[last] === 'object' && !Array.isArray(holder[last])) (holder[last] as Record<string, unknown>)[key] = value;
            else if (action === 'empty' && Array.isArray(holder[last])) (holder[last] as unknown[]).length = 0;
          }
          await exercise(JSON.stringify(config, null, 2));
        },
      ),
      { numRuns: 1000, seed: SEED },
    );
  }, 120_000);

  it('500 text mutations (characters replaced, deleted or inserted; the file cut short): only MtlError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: examples.length - 1 }),
        fc.array(fc.record({ at: fc.nat(), action: fc.constantFrom('replace', 'delete', 'insert', 'cut'), text: fc.string({ minLength: 1, maxLength: 4, unit: 'binary' }) }), {
          minLength: 1,
          maxLength: 3,
        }),
        async (which, edits) => {
          let text = examples[which]!;
          for (const { at, action, text: piece } of edits) {
            const i = at % Math.max(text.length, 1);
            if (action === 'replace') text = text.slice(0, i) + piece + text.slice(i + piece.length);
            else if (action === 'delete') text = text.slice(0, i) + text.slice(i + piece.length);
            else if (action === 'insert') text = text.slice(0, i) + piece + text.slice(i);
            else text = text.slice(0, i);
          }
          await exercise(text);
        },
      ),
      { numRuns: 500, seed: SEED + 1 },
    );
  }, 120_000);

  afterAll(() => {
    console.log(`config fuzzing: ${outcomes.rejected} rejected with MtlError, ${outcomes.accepted} accepted; slowest input ${slowest.toFixed(1)} ms`);
    expect(slowest).toBeLessThan(5000);
  });
});
