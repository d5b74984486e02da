import type { EpochReport, StepReport } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { formatNumber, ProgressRenderer } from './progress';

// Escape sequences and carriage returns, which a plain (non-TTY) stream must never receive.
const CONTROL = /[\r\x1b]/;
const CLEAR = '\r\x1b[2K';

function fakeStream(isTTY: boolean, columns = 100) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) } };
}

function stepReport(step: number, epoch: number): StepReport {
  return {
    step,
    epoch,
    loss: 1,
    losses: { 'left-digit': 2 / (step + 1), 'right-digit': 1 / (step + 1), extra: Number.NaN },
    weights: { 'left-digit': 0.5, 'right-digit': 1.5, extra: 0 },
    active: { 'left-digit': true, 'right-digit': true, extra: false },
    warnings: [],
    skipped: false,
    skips: 0,
  };
}

function epochReport(epoch: number, steps: number): EpochReport {
  return {
    epoch,
    steps,
    skipped: 0,
    trainLosses: { 'left-digit': 0.5, 'right-digit': 0.25, extra: Number.NaN },
    meanWeights: { 'left-digit': 0.5, 'right-digit': 1.5, extra: Number.NaN },
    validation: { tasks: { 'left-digit': { loss: 0.4, count: 10, metrics: { accuracy: 0.9 } } } },
  };
}

const tasks = ['left-digit', 'right-digit', 'extra'];

/** What a terminal would show after the writes: each \r returns to column 0, ESC[2K clears the line. */
function visibleLines(output: string): string[] {
  return output.split('\n').map((line) => line.split('\r').at(-1)!.replace(/\x1b\[2K/g, ''));
}

describe('ProgressRenderer on a TTY', () => {
  it('redraws one line in place (carriage return + clear line), never wider than the terminal', () => {
    for (const columns of [100, 60, 30]) {
      const { writes, stream } = fakeStream(true, columns);
      let clock = 0;
      const progress = new ProgressRenderer(stream, { epochs: 2, tasks, stepsPerEpoch: 20, minRedrawMs: 0, now: () => (clock += 10) });
      for (let step = 0; step < 20; step++) progress.step(stepReport(step, 0));
      progress.epochEnd(epochReport(0, 20));
      const redraws = writes.filter((w) => w.startsWith(CLEAR) && w !== CLEAR);
      expect(redraws).toHaveLength(20);
      for (const redraw of redraws) {
        expect(redraw).not.toContain('\n');
        expect(redraw.slice(CLEAR.length).length).toBeLessThan(columns);
      }
      expect(redraws.at(-1)).toMatch(/^\r\x1b\[2Kepoch 1\/2/);
      if (columns === 100) {
        expect(redraws[4]).toContain('[');
        expect(redraws[4]).toContain('5/20');
        expect(redraws[4]).toMatch(/loss left-digit 0\.9133 right-digit 0\.4567 extra –/);
        expect(redraws[4]).toMatch(/step\/s/);
      }
      // The epoch summary replaces the live line on a line of its own.
      const summary = writes.at(-1)!;
      expect(summary).toMatch(/^epoch 1\/2: 20 steps in [\d.]+ s; train loss left-digit 0\.5 right-digit 0\.25 extra –; mean weights .*; validation left-digit: loss 0\.4, accuracy 0\.9\n$/);
      expect(writes.at(-2)).toBe(CLEAR);
    }
  });

  it('fills the bar as the epoch advances and shows the rate after the first step', () => {
    const { writes, stream } = fakeStream(true, 120);
    let clock = 0;
    const progress = new ProgressRenderer(stream, { epochs: 1, tasks: ['a'], stepsPerEpoch: 10, minRedrawMs: 0, now: () => clock });
    for (let step = 0; step < 10; step++) {
      clock += 200; // 5 steps per second
      progress.step({ ...stepReport(step, 0), losses: { a: 1 }, weights: { a: 1 }, active: { a: true } });
    }
    const bars = writes.map((w) => /\[(#*)\.*\]/.exec(w)?.[1]?.length ?? -1);
    expect(bars[0]).toBe(2); // round(1/10 × 20)
    expect(bars.at(-1)).toBe(20); // min(20, (119 − 50) / 3)
    for (let i = 1; i < bars.length; i++) expect(bars[i]!).toBeGreaterThanOrEqual(bars[i - 1]!);
    expect(writes[0]).toContain('– step/s');
    expect(writes.at(-1)).toMatch(/ 5\.0 step\/s/);
  });

  it('throttles redraws to minRedrawMs but always draws the last step of an epoch', () => {
    const { writes, stream } = fakeStream(true, 100);
    let clock = 0;
    const progress = new ProgressRenderer(stream, { epochs: 1, tasks, stepsPerEpoch: 50, minRedrawMs: 100, now: () => (clock += 10) });
    for (let step = 0; step < 50; step++) progress.step(stepReport(step, 0));
    expect(writes.length).toBeLessThan(15);
    expect(writes.at(-1)).toContain('50/50');
  });

  it('leaves the terminal on a clean line after the last visible output', () => {
    const { writes, stream } = fakeStream(true, 80);
    const progress = new ProgressRenderer(stream, { epochs: 1, tasks, minRedrawMs: 0 });
    progress.step(stepReport(0, 0));
    progress.message('a message');
    progress.step(stepReport(1, 0));
    progress.finish();
    const lines = visibleLines(writes.join(''));
    expect(lines).toEqual(['a message', '']);
  });
});

describe('ProgressRenderer on a plain stream', () => {
  it('writes plain lines only: one per epoch, plus one every logEvery steps', () => {
    const { writes, stream } = fakeStream(false);
    const progress = new ProgressRenderer(stream, { epochs: 2, tasks, logEvery: 5 });
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let step = 0; step < 10; step++) progress.step(stepReport(epoch * 10 + step, epoch));
      progress.epochEnd(epochReport(epoch, 10));
    }
    progress.finish();
    const output = writes.join('');
    expect(output).not.toMatch(CONTROL);
    const lines = output.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('step 5 (epoch 1/2): loss left-digit 0.9133 right-digit 0.4567 extra –; weights left-digit 0.5 right-digit 1.5 extra 0');
    expect(lines[2]).toMatch(/^epoch 1\/2: 10 steps in/);
    expect(lines[5]).toMatch(/^epoch 2\/2: /);
  });

  it('without logEvery, writes only the epoch lines', () => {
    const { writes, stream } = fakeStream(false);
    const progress = new ProgressRenderer(stream, { epochs: 1, tasks });
    for (let step = 0; step < 7; step++) progress.step(stepReport(step, 0));
    progress.epochEnd(epochReport(0, 7));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^epoch 1\/1: 7 steps/);
  });
});

describe('formatNumber', () => {
  it('keeps four significant digits and marks non-finite values', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(1234.5678)).toBe('1235');
    expect(formatNumber(2e-5)).toBe('2.00e-5');
    expect(formatNumber(Number.NaN)).toBe('–');
    expect(formatNumber(null)).toBe('–');
  });
});
