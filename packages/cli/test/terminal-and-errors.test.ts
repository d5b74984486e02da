// The built binary on a pseudo-terminal, under Ctrl-C, with bad configs and arguments, and its help.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseRunLog } from '@mtljs/report';
import { systemFile } from '@mtljs/vitest-config';
import { describe, expect, it } from 'vitest';
import { COMMANDS, commandHelp } from '../src/help';
import { BIN, mtl, PACKAGE_DIR, SYNTHETIC, temporaryDir } from './helpers';

const script = systemFile('/usr/bin/script', 'util-linux');
const STACK_LINE = /^\s+at /m;

describe('progress on a terminal', () => {
  it.skipIf(!script.run)(`under a pseudo-terminal (script -qefc), the progress line is redrawn in place${script.note}`, async () => {
    const dir = temporaryDir('mtl-tty-');
    const command = `${process.execPath} ${BIN} train ${SYNTHETIC} --out ${join(dir, 'run')} --backend wasm --epochs 1`;
    const { stdout } = await promisify(execFile)(script.path, ['-qefc', command, '/dev/null'], { cwd: PACKAGE_DIR });
    const redraws = stdout.match(/\r\x1b\[2Kepoch 1\/1 [^\r\n]*\d+\/32/g) ?? [];
    expect(redraws.length).toBeGreaterThan(1);
    expect(redraws.at(-1)).toContain('32/32');
    expect(stdout).toMatch(/\r\x1b\[2Kepoch 1\/1: 32 steps in [\d.]+ s; train loss/);
  });
});

describe('Ctrl-C', () => {
  it('stops training after the current step, ends the log with status interrupted and exits 130', async () => {
    const dir = temporaryDir('mtl-sigint-');
    const run = join(dir, 'run');
    let sent = false;
    const outcome = await mtl(['train', SYNTHETIC, '--out', run, '--backend', 'wasm', '--epochs', '200', '--log-every', '1'], {
      onStdout: (text, child) => {
        if (!sent && /^step 3 /m.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(outcome.code).toBe(130);
    expect(outcome.stderr).toBe("mtl: interrupted; the run log ends with status 'interrupted'\n");
    const log = parseRunLog(readFileSync(join(run, 'log.jsonl'), 'utf8'), 'log.jsonl');
    expect(log.end?.status).toBe('interrupted');
    expect(log.steps.length).toBeGreaterThanOrEqual(3);
    expect(log.steps.length).toBeLessThan(200 * 32);
    expect(log.end?.steps).toBe(log.steps.length);
  });
});

describe.concurrent('config errors exit 2 naming the field, with no stack trace', () => {
  const dir = temporaryDir('mtl-errors-');
  const base = JSON.parse(readFileSync(SYNTHETIC, 'utf8'));
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['wrong type', { ...base, epochs: '2' }, /^mtl: .*wrong-type\.json: epochs: expected a positive integer, got "2"$/m],
    ['unknown plugin', { ...base, weighting: 'pcgard' }, /^mtl: .*unknown-plugin\.json: weighting: unknown weighting 'pcgard' \(did you mean 'pcgrad'\?\); available: .*\bew\b.*\bpcgrad\b.*\buncertainty\b/m],
    ['missing field', Object.fromEntries(Object.entries(base).filter(([key]) => key !== 'model')), /^mtl: .*missing-field\.json: model: required$/m],
    ['unknown key', { ...Object.fromEntries(Object.entries(base).filter(([key]) => key !== 'model')), modle: base.model }, /^mtl: .*unknown-key\.json: modle: unknown key \(did you mean 'model'\?\)$/m],
    ['bad nested spec', { ...base, model: { ...base.model, encoder: { type: 'mlp', units: [64, -1] } } }, /^mtl: .*bad-nested-spec\.json: model\.encoder\.units\[1\]: expected a positive integer, got -1$/m],
    ['plugin package that does not exist', { ...base, plugins: ['mtljs-weighting-does-not-exist'] }, /^mtl: .*: plugins\[0\]: cannot find plugin package 'mtljs-weighting-does-not-exist'/m],
    ['bad plugin options', { ...base, weighting: { name: 'pcgrad', options: { alpha: 1 } } }, /^mtl: .*: weighting\.options: weighting 'pcgrad': unknown option 'alpha'/m],
  ];
  for (const [name, config, message] of cases) {
    it(name, async () => {
      const file = join(dir, `${name.replace(/ /g, '-')}.json`);
      writeFileSync(file, JSON.stringify(config));
      const outcome = await mtl(['train', file, '--out', join(dir, 'never')]);
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toMatch(message);
      expect(outcome.stderr).not.toMatch(STACK_LINE);
      expect(outcome.stdout).toBe('');
    });
  }

  it('a data file that does not exist exits 3 naming the file', async () => {
    const file = join(dir, 'missing-data.json');
    writeFileSync(file, JSON.stringify({ ...base, data: { adapter: 'csv', train: 'no-such.csv', options: { batchSize: 4 } } }));
    const outcome = await mtl(['train', file, '--quiet']);
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toBe(`mtl: ${file}: data.train: file not found: ${join(dir, 'no-such.csv')}\n`);
  });

  it('a missing config file exits 3; --debug adds the stack trace', async () => {
    const outcome = await mtl(['train', 'nope.json', '--debug']);
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toMatch(/^mtl: config: file not found: .*nope\.json$/m);
    expect(outcome.stderr).toMatch(STACK_LINE);
  });

  it('bad arguments exit 2 with a usage message', async () => {
    const epochs = await mtl(['train', SYNTHETIC, '--epochs', 'two']);
    expect(epochs.code).toBe(2);
    expect(epochs.stderr).toBe("mtl: --epochs: expected a positive integer, got 'two'\n");
  });
});

describe('help', () => {
  it('mtl --help names every command and the exit codes', async () => {
    const outcome = await mtl(['--help']);
    expect(outcome.code).toBe(0);
    for (const command of COMMANDS) expect(outcome.stdout).toMatch(new RegExp(`^  ${command.name} `, 'm'));
    for (const code of ['0', '1', '2', '3', '130']) expect(outcome.stdout).toMatch(new RegExp(`^  ${code} +\\S`, 'm'));
  });

  it('every command help lists each of its options (with its default where it has one) and the exit codes', () => {
    for (const command of COMMANDS) {
      const text = commandHelp(command);
      expect(text).toContain(`Usage: mtl ${command.name} ${command.args}`);
      for (const option of command.options) {
        expect(text).toContain(`--${option.name}`);
        if (option.default) expect(text).toContain(`default: ${option.default}`);
      }
      expect(text).toContain('Exit codes:');
      expect(text).toContain('130');
    }
  });
});
