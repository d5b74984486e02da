import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { asyncSteps, maxAbsDifference, STEP_CASES, trainerSteps } from '../test/fixtures/training-step';
import { hasSwiftShader, swiftShaderSkip } from '../test/system';
import { webgpuBackend } from './index';

const TOLERANCE = 1e-4;
const STEPS = 2;
const log = () => {};

const measured: string[] = [];

describe('webgpu (Node, SwiftShader) agrees with cpu on a training step', () => {
  afterAll(async () => {
    await webgpuBackend().release();
    if (measured.length) console.info(`webgpu vs cpu, ${STEPS} SGD steps:\n  ${measured.join('\n  ')}`);
  });

  for (const stepCase of STEP_CASES) {
    it.skipIf(!hasSwiftShader)(`${stepCase === 'equal' ? 'hard sharing + equal weighting' : "PCGrad at site 'shared'"}${swiftShaderSkip}`, async () => {
      await useBackend('cpu', { backends: [cpuBackend()], log });
      const cpu = await trainerSteps(stepCase, STEPS);
      await useBackend('webgpu', { backends: [webgpuBackend()], log });
      const before = tf.memory().numTensors;
      const webgpu = await asyncSteps(stepCase, STEPS);
      expect(tf.getBackend()).toBe('webgpu');
      expect(tf.memory().numTensors).toBe(before);
      expect(cpu.losses.every(Number.isFinite)).toBe(true);
      // Training moved, and PCGrad did project (its weights are not all 1).
      expect(cpu.losses[2]).not.toBe(cpu.losses[0]);
      if (stepCase === 'pcgrad-shared') expect(cpu.taskWeights.some((w) => Math.abs(w - 1) > 0.01)).toBe(true);
      const lossDiff = maxAbsDifference(cpu.losses, webgpu.losses);
      const weightDiff = maxAbsDifference(cpu.taskWeights, webgpu.taskWeights);
      const variableDiff = maxAbsDifference(cpu.variables, webgpu.variables);
      const times = webgpu.milliseconds.map((ms) => `${ms.toFixed(0)} ms`).join(', ');
      measured.push(
        `${stepCase}: losses ${lossDiff.toExponential(2)}, task weights ${weightDiff.toExponential(2)}, variables ${variableDiff.toExponential(2)}; webgpu step times ${times}`,
      );
      expect(lossDiff).toBeLessThanOrEqual(TOLERANCE);
      expect(weightDiff).toBeLessThanOrEqual(TOLERANCE);
      expect(variableDiff).toBeLessThanOrEqual(TOLERANCE);
    });
  }
});
