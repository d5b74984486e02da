import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { parseOptions } from './options';

function failure(argv: string[]): Error {
  try {
    parseOptions(argv, 'out.json');
  } catch (error) {
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
    return error as Error;
  }
  throw new Error(`parseOptions(${argv.join(' ')}) did not fail`);
}

describe('parseOptions', () => {
  it('gives the documented defaults', () => {
    const options = parseOptions([], 'out.json');
    expect(options).toEqual({
      seeds: [1, 2, 3],
      epochs: 30,
      trainSize: 2000,
      testSize: 2000,
      labelledEa: [1, 0.1, 0.03],
      batchSize: 64,
      learningRate: 0.03,
      encoder: [64, 64],
      head: [32],
      out: 'out.json',
      help: false,
    });
  });

  it('reads counts, lists and both --name=value and --name value', () => {
    const options = parseOptions(['--seeds=5', '--labelled-ea', '0.2,0.05', '--head=', '--encoder=32', '--out=/tmp/x.json', '--lr=1e-2'], 'out.json');
    expect(options.seeds).toEqual([1, 2, 3, 4, 5]);
    expect(options.labelledEa).toEqual([0.2, 0.05]);
    expect(options.head).toEqual([]);
    expect(options.encoder).toEqual([32]);
    expect(options.out).toBe('/tmp/x.json');
    expect(options.learningRate).toBe(0.01);
    expect(parseOptions(['--seeds=7,11'], 'o').seeds).toEqual([7, 11]);
    expect(parseOptions(['--help'], 'o').help).toBe(true);
  });

  it('names the option at fault', () => {
    expect(failure(['--epochs=two']).message).toMatch(/--epochs: expected an integer ≥ 1, got 'two'/);
    expect(failure(['--labelled-ea=0.5,0']).message).toMatch(/--labelled-ea/);
    expect(failure(['--lr=-1']).message).toMatch(/--lr/);
    expect(failure(['--encoder=64,x']).message).toMatch(/--encoder/);
    expect(failure(['--train-size=1']).message).toMatch(/--train-size/);
    expect(failure(['--weighting=pcgrad']).message).toMatch(/unknown option --weighting; known: .*--seeds/);
    expect(failure(['extra']).message).toMatch(/unexpected argument 'extra'/);
    expect(failure(['--epochs']).message).toMatch(/--epochs: expected a value/);
  });
});
