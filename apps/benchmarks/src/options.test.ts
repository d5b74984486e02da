import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, parseOptions } from './options';

function parseError(argv: string[]): { code: string; message: string; field: unknown } {
  try {
    parseOptions(argv, '/out');
  } catch (error) {
    if (!isMtlError(error)) throw error;
    return { code: error.code, message: error.message, field: (error.details as { field?: unknown }).field };
  }
  throw new Error(`parseOptions(${argv.join(' ')}) did not throw`);
}

describe('parseOptions', () => {
  it('gives the defaults, with the out folder passed in', () => {
    expect(parseOptions([], '/app')).toEqual({ ...DEFAULT_OPTIONS, out: '/app' });
  });

  it('reads --name=value, --name value and flags', () => {
    const options = parseOptions(
      ['--dataset=multi-fashion', '--train-size', '2000', '--seeds=0,3', '--weightings=ew,pcgrad', '--no-baselines', '--resume', '--out=/tmp/x', '--lr=0.001', '--site=features', '--probe-every=0'],
      '/app',
    );
    expect(options).toMatchObject({
      dataset: 'multi-fashion',
      trainSize: 2000,
      seeds: [0, 3],
      weightings: ['ew', 'pcgrad'],
      baselines: false,
      resume: true,
      out: '/tmp/x',
      learningRate: 0.001,
      site: 'features',
      probeEvery: 0,
    });
    expect(parseOptions(['--weightings=all'], '/app').weightings).toBe('all');
  });

  it.each([
    [['--dataset=cifar'], 'dataset', /expected multi-mnist or multi-fashion, got 'cifar'/],
    [['--train-size=0'], 'train-size', /integer ≥ 1, got '0'/],
    [['--epochs=1.5'], 'epochs', /integer ≥ 1, got '1.5'/],
    [['--seeds=0,x'], 'seeds', /got 'x'/],
    [['--seeds=1,1'], 'seeds', /listed twice/],
    [['--weightings=ew,,pcgrad'], 'weightings', /comma-separated/],
    [['--lr=-1'], 'lr', /positive number/],
    [['--site=heads'], 'site', /expected one of default, shared, last-shared, features/],
    [['--out'], 'out', /needs a value/],
    [['--help=yes'], 'help', /flag/],
    [['--epochs=1', '--epochs=2'], 'epochs', /given twice/],
    [['--bogus=1'], 'bogus', /unknown option --bogus; known: --dataset/],
  ])('refuses %j with BAD_CONFIG naming --%s', (argv, field, message) => {
    const error = parseError(argv);
    expect(error.code).toBe('BAD_CONFIG');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(`--${field}`);
  });

  it('refuses a bare argument', () => {
    expect(parseError(['multi-mnist']).message).toMatch(/unexpected argument 'multi-mnist'/);
  });
});
