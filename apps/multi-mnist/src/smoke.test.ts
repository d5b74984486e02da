import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { hardSharing } from '@mtljs/sharing-hard';
import { describe, expect, it } from 'vitest';
import { runMultiDigit } from './run';

describe('MultiMNIST smoke run (wasm)', () => {
  it('a multi-LeNet with hard sharing learns both digits a little from 1,024 images', async () => {
    await useBackend('wasm', { backends: [cpuBackend(), wasmBackend()], log: () => {} });
    const accuracies: Record<string, number>[] = [];
    const result = await runMultiDigit({
      dataset: 'multi-mnist',
      strategy: hardSharing(),
      epochs: 3,
      seed: 1,
      trainSize: 1024,
      testSize: 256,
      batchSize: 64,
      learningRate: 3e-3,
      onEpoch: (_epoch, report) => accuracies.push(Object.fromEntries(Object.entries(report.tasks).map(([t, r]) => [t, r.metrics.accuracy!]))),
    });
    console.log(`MultiMNIST smoke: test accuracy after each epoch ${JSON.stringify(accuracies)}`);
    expect(result.dataset.arrays.train.count).toBe(1024);
    // Chance is 10%; three short epochs on 1,024 images already do clearly better on both tasks.
    expect(result.accuracy.left!).toBeGreaterThan(0.3);
    expect(result.accuracy.right!).toBeGreaterThan(0.3);
  }, 180_000);
});
