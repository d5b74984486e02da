import { isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { parseSpace, sampleTrials, setPath } from './tune';

describe('parseSpace', () => {
  it('accepts choices and ranges', () => {
    const space = parseSpace({ 'optimizer.learningRate': { min: 1e-4, max: 1e-2, log: true }, 'model.encoder.units': [[8], [16, 8]] }, 'space.json');
    expect(Object.keys(space)).toEqual(['optimizer.learningRate', 'model.encoder.units']);
  });

  it('names the entry at fault', () => {
    const messages = (raw: unknown) => {
      try {
        parseSpace(raw, 'space.json');
      } catch (error) {
        expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(messages({ 'optimizer.learningRate': { min: 1, max: 0.5 } })).toBe('space.json: optimizer.learningRate.max: expected max > min (1), got 0.5');
    expect(messages({ 'optimizer.learningRate': { min: 0, max: 1, log: true } })).toBe('space.json: optimizer.learningRate.min: a log range needs min > 0, got 0');
    expect(messages({ weighting: [] })).toBe('space.json: weighting: expected at least one choice, got []');
    expect(messages({})).toBe('space.json: the space is empty; map config paths to choices or ranges');
  });
});

describe('sampleTrials', () => {
  const space = parseSpace({ lr: { min: 1e-4, max: 1e-2, log: true }, units: [[8], [16]], depth: { min: 1, max: 4, integer: true } }, 'space');

  it('random: the same seed gives the same trials; values stay in their ranges', () => {
    const a = sampleTrials(space, 'random', 20, 5, 'space');
    expect(sampleTrials(space, 'random', 20, 5, 'space')).toEqual(a);
    expect(sampleTrials(space, 'random', 20, 6, 'space')).not.toEqual(a);
    for (const trial of a) {
      expect(trial.lr as number).toBeGreaterThanOrEqual(1e-4);
      expect(trial.lr as number).toBeLessThanOrEqual(1e-2);
      expect([[8], [16]]).toContainEqual(trial.units);
      expect(Number.isInteger(trial.depth)).toBe(true);
    }
    // Log-uniform: about half the draws below the geometric midpoint 1e-3.
    const below = sampleTrials(space, 'random', 400, 1, 'space').filter((t) => (t.lr as number) < 1e-3).length;
    expect(below).toBeGreaterThan(150);
    expect(below).toBeLessThan(250);
  });

  it('grid: every combination, ranges in log-spaced steps; a range without steps is refused', () => {
    const grid = parseSpace({ lr: { min: 1e-3, max: 1e-1, log: true, steps: 3 }, w: ['ew', 'pcgrad'] }, 'space');
    const trials = sampleTrials(grid, 'grid', undefined, 0, 'space');
    expect(trials).toHaveLength(6);
    expect(trials.map((t) => t.w)).toEqual(['ew', 'pcgrad', 'ew', 'pcgrad', 'ew', 'pcgrad']);
    expect((trials[2]!.lr as number)).toBeCloseTo(1e-2, 12);
    expect(sampleTrials(grid, 'grid', 4, 0, 'space')).toHaveLength(4);
    expect(() => sampleTrials(space, 'grid', undefined, 0, 'space')).toThrow('space: lr: a range in a grid search needs "steps"');
  });
});

describe('setPath', () => {
  it('sets nested values on a copy; a plugin given by name becomes { name } when the path enters it', () => {
    const config = { weighting: 'gradnorm', optimizer: { name: 'adam' } };
    const next = setPath(setPath(config, 'weighting.options.alpha', 1.5), 'optimizer.learningRate', 0.01);
    expect(next).toEqual({ weighting: { name: 'gradnorm', options: { alpha: 1.5 } }, optimizer: { name: 'adam', learningRate: 0.01 } });
    expect(config.weighting).toBe('gradnorm');
    expect(() => setPath({ epochs: 2 }, 'epochs.x', 1)).toThrow("space: epochs.x: 'epochs' is 2 in the config, not an object");
  });
});
