// The exported command functions in this process: no tensor leaks across runs, the CSV example
// with single-task baselines, a plugin package named in a config, and interruption by signal.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseRunLog } from '@mtljs/report';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, commandHelp, evaluateRun, exitCodeFor, mainHelp, runCli, train } from '../src/index';
import { PACKAGE_DIR, SYNTHETIC, temporaryDir, tinyConfig } from './helpers';

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } });
  return { code, stdout, stderr };
}

describe('train() in process', () => {
  it('leaves no tensor behind: numTensors is the same after a second run', async () => {
    const dir = temporaryDir('mtl-leak-');
    // A loss-level weighting, so the run also probes the Gramian every 2 steps.
    const config = tinyConfig(dir, 'leak', { backend: 'cpu', weighting: 'uncertainty', probe: { every: 2 }, epochs: 2 });
    const first = await train({ config, out: join(dir, 'a'), report: false });
    const after = tf.memory().numTensors;
    const second = await train({ config, out: join(dir, 'b'), report: false });
    expect(tf.memory().numTensors).toBe(after);
    expect(second.steps).toBe(8);
    // Same seed, same data: the same run.
    expect(second.evaluation.report).toEqual(first.evaluation.report);
    const log = parseRunLog(readFileSync(second.log, 'utf8'), 'log.jsonl');
    expect(log.cosines.map((c) => [c.step, c.source])).toEqual([[0, 'probe'], [2, 'probe'], [4, 'probe'], [6, 'probe']]);
  });

  it('trains the CSV example with single-task baselines: Δm%, the fitted schema, and eval from it', async () => {
    const dir = temporaryDir('mtl-csv-');
    const result = await train({ config: join(PACKAGE_DIR, 'examples', 'csv', 'config.json'), out: join(dir, 'run'), epochs: 3, backend: 'cpu' });
    expect(result.evaluation.split).toBe('test');
    expect(Object.keys(result.evaluation.report.tasks)).toEqual(['price', 'type']);
    // 50 test rows, about one in ten unlabelled per task.
    expect(result.evaluation.report.tasks.price!.count).toBeGreaterThan(35);
    expect(result.evaluation.report.tasks.price!.count).toBeLessThan(50);
    expect(result.baselines.map((b) => [b.role, Object.keys(b.evaluation.report.tasks)])).toEqual([
      ['single-task', ['price']],
      ['single-task', ['type']],
    ]);
    expect(Number.isFinite(result.deltaM)).toBe(true);
    expect(existsSync(join(dir, 'run', 'data-schema.json'))).toBe(true);
    expect(existsSync(join(dir, 'run', 'single-type', 'log.jsonl'))).toBe(true);
    // checkpoint.every 5 and keep 2 over 3 epochs: only the last epoch's checkpoint.
    expect(result.checkpoints.map((path) => path.slice(dir.length))).toEqual(['/run/checkpoints/epoch-3.mtlckpt']);
    const evaluated = await evaluateRun({ target: join(dir, 'run'), backend: 'cpu' });
    expect(evaluated.report).toEqual(result.evaluation.report);
    const html = readFileSync(result.report!, 'utf8');
    expect(html).toContain('houses single-task price');
  });
});

describe('a plugin package named in the config', () => {
  const dir = join(PACKAGE_DIR, 'test-results', 'plugin-package');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is resolved from the config folder by package name, and its plugins are registered by name', async () => {
    // A package in node_modules beside the config; its import of @mtljs/core resolves up the tree.
    const packageDir = join(dir, 'node_modules', 'mtljs-dataset-parity');
    mkdirSync(packageDir, { recursive: true });
    writeFileSync(join(packageDir, 'package.json'), JSON.stringify({ name: 'mtljs-dataset-parity', type: 'module', exports: { '.': { default: './index.mjs' } } }));
    writeFileSync(join(packageDir, 'index.mjs'), readFileSync(join(PACKAGE_DIR, 'test', 'fixtures', 'parity-dataset.mjs'), 'utf8'));
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        plugins: ['mtljs-dataset-parity'],
        backend: 'cpu',
        data: { dataset: 'fixture-parity', options: { size: 32, batchSize: 8 } },
        model: { sharing: 'hard', encoder: { type: 'mlp', units: [8] } },
        epochs: 1,
        probe: { every: 0 },
      }),
    );
    const result = await train({ config, out: join(dir, 'run'), report: false });
    expect(result.steps).toBe(4);
    expect(Object.keys(result.evaluation.report.tasks)).toEqual(['sum', 'odd']);
    const log = parseRunLog(readFileSync(result.log, 'utf8'), 'log.jsonl');
    expect(log.cosines).toHaveLength(0); // probe.every 0: off
    // A relative path works too, and loading the same module twice registers nothing twice.
    writeFileSync(config, readFileSync(config, 'utf8').replace('"mtljs-dataset-parity"', JSON.stringify(join(PACKAGE_DIR, 'test', 'fixtures', 'parity-dataset.mjs'))));
    await expect(train({ config, out: join(dir, 'run2'), report: false })).rejects.toThrow(
      /plugins\[0\]: package '.*parity-dataset\.mjs' gives a dataset plugin 'fixture-parity', but one of that name is already registered/,
    );
  });
});

describe('interruption', () => {
  it('an aborted signal stops training after the step; the log ends interrupted and the exit code is 130', async () => {
    const dir = temporaryDir('mtl-abort-');
    const controller = new AbortController();
    const writes: string[] = [];
    const stream = {
      write(text: string) {
        writes.push(text);
        if (text.startsWith('step 2 ')) controller.abort();
      },
    };
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      await train({ config: SYNTHETIC, out: join(dir, 'run'), backend: 'cpu', stream, logEvery: 1, signal: controller.signal });
    } catch (caught) {
      error = caught;
    }
    expect(exitCodeFor(error)).toBe(130);
    expect(tf.memory().numTensors).toBe(before);
    const log = parseRunLog(readFileSync(join(dir, 'run', 'log.jsonl'), 'utf8'), 'log.jsonl');
    expect(log.end).toMatchObject({ status: 'interrupted', steps: 2 });
    expect(log.steps).toHaveLength(2);
    expect(log.checkpoints).toHaveLength(0);
  });
});

describe('runCli in process', () => {
  it('usage errors exit 2 with a message and a suggestion', async () => {
    const option = await cli(['train', SYNTHETIC, '--epoch', '2']);
    expect(option).toEqual({ code: 2, stdout: '', stderr: "mtl: mtl train: unknown option --epoch (did you mean '--epochs'?); see mtl help train\n" });
    const command = await cli(['trian']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^mtl: unknown command 'trian' \(did you mean 'train'\?\)/);
    const required = await cli(['bench', SYNTHETIC]);
    expect(required).toEqual({ code: 2, stdout: '', stderr: 'mtl: mtl bench: --weightings <a,b,…> is required\n' });
    const extra = await cli(['eval', 'a', 'b']);
    expect(extra.stderr).toBe("mtl: mtl eval: unexpected argument 'b'; usage: mtl eval <run-dir | checkpoint.mtlckpt> [options]\n");
    const split = await cli(['eval', 'a', '--split', 'dev']);
    expect(split.stderr).toBe("mtl: --split: expected test or validation or train, got 'dev'\n");
  });

  it('an unknown weighting in mtl bench exits 2 naming the option', async () => {
    const dir = temporaryDir('mtl-bench-typo-');
    const outcome = await cli(['bench', tinyConfig(dir, 'typo'), '--weightings', 'ew,pcgard', '--quiet', '--out', join(dir, 'out')]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/^mtl: mtl bench: --weightings: unknown weighting 'pcgard' \(did you mean 'pcgrad'\?\)/);
  });

  it('help: no arguments prints the help and exits 2; help <cmd> and <cmd> --help print the same text', async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe(mainHelp());
    for (const command of COMMANDS.filter((c) => c.name !== 'help')) {
      const [viaHelp, viaFlag] = [await cli(['help', command.name]), await cli([command.name, '--help'])];
      expect(viaHelp).toEqual({ code: 0, stdout: commandHelp(command), stderr: '' });
      expect(viaFlag).toEqual(viaHelp);
    }
    expect((await cli(['help', 'trian'])).stderr).toMatch(/unknown command 'trian' \(did you mean 'train'\?\)/);
  });
});
