import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { editDistance, formatPath, fromRaw, loadConfig, parseConfig, suggestion } from './config';
import { exitCodeFor } from './exit-codes';

const valid = {
  data: { dataset: 'synthetic', options: { trainSize: 64 } },
  model: { sharing: 'hard', encoder: { type: 'mlp', units: [8] } },
  epochs: 1,
};

function messageOf(raw: unknown): string {
  try {
    parseConfig(raw, 'config.json');
  } catch (error) {
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    expect(exitCodeFor(error)).toBe(2);
    return (error as Error).message;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('parseConfig', () => {
  it('fills in the defaults of a minimal config', () => {
    const config = parseConfig(valid);
    expect(config).toMatchObject({
      seed: 0,
      backend: 'auto',
      weighting: 'ew',
      optimizer: { name: 'adam', learningRate: 1e-3 },
      log: { every: 1 },
      probe: { every: 10 },
      checkpoint: { every: 'epoch' },
      plugins: [],
      baselines: false,
    });
  });

  it("takes nonFinite 'throw' or 'skip' (absent: the trainer's default, throw) and names anything else", () => {
    expect(parseConfig({ ...valid, nonFinite: 'skip' }).nonFinite).toBe('skip');
    expect(parseConfig(valid).nonFinite).toBeUndefined();
    expect(messageOf({ ...valid, nonFinite: 'ignore' })).toBe('config.json: nonFinite: expected "throw" or "skip", got "ignore"');
  });

  it('names the field, what was expected and the value given', () => {
    expect(messageOf({ ...valid, epochs: '2' })).toBe('config.json: epochs: expected a positive integer, got "2"');
    expect(messageOf({ ...valid, model: { ...valid.model, encoder: { type: 'mlp', units: [64, '64', -1] } } })).toBe(
      'config.json: model.encoder.units[1]: expected a positive integer, got "64"\nconfig.json: model.encoder.units[2]: expected a positive integer, got -1',
    );
    expect(messageOf({ ...valid, weighting: 3 })).toBe('config.json: weighting: expected a plugin name or { "name": …, "options": { … } }, got 3');
    expect(messageOf({ ...valid, optimizer: { name: 'adamw' } })).toBe('config.json: optimizer.name: expected "adam" or "sgd" or "momentum" or "rmsprop" or "adagrad", got "adamw"');
  });

  it('reports a missing field as required and an unknown key with a suggestion', () => {
    const { model, ...withoutModel } = valid;
    expect(messageOf(withoutModel)).toBe('config.json: model: required');
    expect(messageOf({ ...withoutModel, modle: model })).toBe('config.json: model: required\nconfig.json: modle: unknown key (did you mean \'model\'?)');
    expect(messageOf({ ...valid, model: { ...model, encoder: { type: 'mlp', units: [4], widths: [2] } } })).toBe('config.json: model.encoder.widths: unknown key');
  });

  it('names the discriminator of an encoder of an unknown type', () => {
    expect(messageOf({ ...valid, model: { ...valid.model, encoder: { type: 'rnn' } } })).toBe('config.json: model.encoder.type: expected "mlp" or "conv", got "rnn"');
  });

  it('checks the data block: dataset or adapter, files only with an adapter', () => {
    expect(messageOf({ ...valid, data: {} })).toContain('config.json: data: expected "dataset" (a registered dataset) or "adapter"');
    expect(messageOf({ ...valid, data: { adapter: 'csv' } })).toBe('config.json: data.train: required with "adapter" (the training file)');
    expect(messageOf({ ...valid, data: { dataset: 'synthetic', train: 'a.csv' } })).toContain('config.json: data.train: file paths go with "adapter"');
  });

  it('refuses a task listed twice and momentum for another optimiser', () => {
    expect(messageOf({ ...valid, tasks: [{ name: 'a' }, { name: 'a' }] })).toBe("config.json: tasks[1].name: task 'a' is listed twice");
    expect(messageOf({ ...valid, optimizer: { name: 'adam', momentum: 0.9 } })).toBe('config.json: optimizer.momentum: only the "momentum" optimizer takes a momentum');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtl-config-'));

  it('resolves data paths and out from the config file folder; overrides replace values before validation', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ ...valid, data: { adapter: 'csv', train: 'd/train.csv', test: { path: '/abs/test.csv', options: { batchSize: 2 } } }, out: 'runs/x' }));
    const loaded = loadConfig(file, { epochs: 3, seed: 7 });
    expect(loaded.config.data.train).toBe(join(dir, 'd/train.csv'));
    expect(loaded.config.data.test).toEqual({ path: '/abs/test.csv', options: { batchSize: 2 } });
    expect(loaded.config.out).toBe(join(dir, 'runs/x'));
    expect(loaded.config.epochs).toBe(3);
    expect(loaded.config.seed).toBe(7);
    expect(() => fromRaw(valid, { label: 'x', dir }, { epochs: 0 })).toThrow('x: epochs: expected a positive integer, got 0');
  });

  it('a missing file exits 3; invalid JSON is BAD_CONFIG with its line and column', () => {
    const missing = join(dir, 'none.json');
    let error: unknown;
    try {
      loadConfig(missing);
    } catch (caught) {
      error = caught;
    }
    expect((error as Error).message).toContain(missing);
    expect(exitCodeFor(error)).toBe(3);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{\n  "epochs": 1,\n  "seed": ,\n}');
    expect(() => loadConfig(bad)).toThrow(/bad\.json: not valid JSON \(line 3, column 11\)/);
  });
});

describe('helpers', () => {
  it('formats paths as users write them', () => {
    expect(formatPath(['model', 'encoder', 'units', 1])).toBe('model.encoder.units[1]');
    expect(formatPath([])).toBe('');
  });

  it('suggests the closest name within two edits', () => {
    expect(editDistance('pcgard', 'pcgrad')).toBe(2);
    expect(suggestion('pcgard', ['ew', 'pcgrad', 'mgda'])).toBe(" (did you mean 'pcgrad'?)");
    expect(suggestion('xyz', ['ew', 'pcgrad'])).toBe('');
  });
});

describe('jsonErrorOffset', () => {
  it('finds the first syntax error and accepts valid JSON', async () => {
    const { jsonErrorOffset } = await import('./config');
    expect(jsonErrorOffset('{"a": [1, 2.5e3, true, null, "x\\u00e9"]}')).toBeUndefined();
    expect(jsonErrorOffset('{"a": 1,}')).toBe(8);
    expect(jsonErrorOffset('{"a": 01}')).toBe(7);
    expect(jsonErrorOffset('[1, 2] x')).toBe(7);
    expect(jsonErrorOffset('{"a": "unterminated')).toBe(19);
  });
});
