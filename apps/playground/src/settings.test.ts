import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseSettings } from './settings';

function failure(run: () => unknown): { code: string; message: string; fields: string[] } {
  try {
    run();
  } catch (error) {
    if (!isMtlError(error)) throw error;
    return { code: error.code, message: error.message, fields: error.details['fields'] as string[] };
  }
  throw new Error('expected an MtlError');
}

describe('parseSettings', () => {
  it('reads every control, and keeps the default of a control left out', () => {
    const settings = parseSettings({
      tasks: '3',
      correlation: '0.25',
      kind: 'binary',
      trainSize: '512',
      sharing: 'mmoe',
      encoderUnits: '16, 8',
      headUnits: '',
      weighting: 'pcgrad',
      weightingOptions: '{"reduction": "mean"}',
      site: 'features',
      backend: 'webgpu',
      optimizer: 'sgd',
      learningRate: '0.05',
      probeEvery: '0',
    });
    expect(settings.dataset).toEqual({ ...DEFAULT_SETTINGS.dataset, tasks: 3, correlation: 0.25, kind: 'binary', trainSize: 512 });
    expect(settings).toMatchObject({
      sharing: 'mmoe',
      encoderUnits: [16, 8],
      headUnits: [],
      weighting: 'pcgrad',
      weightingOptions: { reduction: 'mean' },
      site: 'features',
      backend: 'webgpu',
      optimizer: 'sgd',
      learningRate: 0.05,
      probeEvery: 0,
      seed: DEFAULT_SETTINGS.seed,
      epochs: DEFAULT_SETTINGS.epochs,
    });
    expect(parseSettings({ site: '' }).site).toBeNull();
  });

  it('names every wrong field in one BAD_CONFIG error', () => {
    const error = failure(() =>
      parseSettings({ correlation: '1.5', tasks: 'two', learningRate: '0', encoderUnits: '16, x', weightingOptions: '[1]', site: 'everywhere', optimizer: 'lion' }),
    );
    expect(error.code).toBe('BAD_CONFIG');
    expect(error.fields).toEqual(['tasks', 'correlation', 'site', 'optimizer', 'encoderUnits', 'weightingOptions', 'learningRate']);
    expect(error.message).toContain("'correlation' must be a number ≥ 0 and ≤ 1, got '1.5'");
    expect(error.message).toContain("'tasks' must be an integer ≥ 1 and ≤ 8, got 'two'");
    expect(error.message).toContain("'learningRate' must be a number > 0");
    expect(error.message).toContain("got 'x' in '16, x'");
    expect(error.message).toContain("'weightingOptions' must be a JSON object");
    expect(error.message).toContain("got 'everywhere'");
    expect(error.message).toContain("got 'lion'");
  });

  it('refuses JSON that does not parse, an input too small for the tasks, and an empty plugin name', () => {
    expect(failure(() => parseSettings({ weightingOptions: '{reduction: mean}' })).message).toMatch(/'weightingOptions' must be a JSON object .*: .*JSON/);
    const small = failure(() => parseSettings({ tasks: '4', inputDim: '4' }));
    expect(small.fields).toEqual(['inputDim']);
    expect(small.message).toContain('tasks + 1 = 5');
    expect(failure(() => parseSettings({ sharing: ' ' })).fields).toEqual(['sharing']);
    expect(failure(() => parseSettings({ encoderUnits: '' })).fields).toEqual(['encoderUnits']);
  });
});
