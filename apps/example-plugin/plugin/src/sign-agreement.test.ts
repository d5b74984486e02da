import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, isMtlError } from '@mtljs/core';
import { checkWeighting, thrownBy, trainerSmokeCheck, weighGramian } from '@mtljs/testkit';
import { hardSharing } from 'mtljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { plugins, signAgreement, signAgreementWeights } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// g0 and g1 conflict (⟨g0, g1⟩ = −2); g2 agrees with both.
const GRAMIAN = [
  [4, -2, 1],
  [-2, 9, 3],
  [1, 3, 1],
];

describe('signAgreementWeights', () => {
  it('matches the hand-worked example', () => {
    // Task 0 agrees with itself and task 2: (1 + 1) / 3; task 1 likewise; task 2 with all three.
    expect(signAgreementWeights(GRAMIAN)).toEqual([2 / 3, 2 / 3, 1]);
    expect(signAgreementWeights(GRAMIAN, 2)).toEqual([4 / 9, 4 / 9, 1]);
    expect(signAgreementWeights(GRAMIAN, 0)).toEqual([1, 1, 1]);
  });

  it('gives weight 1 to a lone task and to tasks that never conflict, including orthogonal ones', () => {
    expect(signAgreementWeights([[5]])).toEqual([1]);
    expect(signAgreementWeights([
      [1, 0],
      [0, 1],
    ])).toEqual([1, 1]);
  });

  it('gives 1/A to a task that conflicts with every other', () => {
    const weights = signAgreementWeights([
      [1, -1, -1, -1],
      [-1, 1, 1, 1],
      [-1, 1, 1, 1],
      [-1, 1, 1, 1],
    ]);
    expect(weights).toEqual([1 / 4, 3 / 4, 3 / 4, 3 / 4]);
  });
});

describe('signAgreement', () => {
  it('weighs a Gramian tensor as the engine calls it', () => {
    expect(weighGramian(signAgreement(), GRAMIAN).weights).toEqual([2 / 3, 2 / 3, 1]);
    expect(weighGramian(signAgreement({ power: 2 }), GRAMIAN).weights).toEqual([4 / 9, 4 / 9, 1]);
  });

  it('conforms, with the properties it has', async () => {
    // Not nonConflicting: a down-weighted conflicting pair still conflicts (G·w can be negative).
    const report = await checkWeighting(signAgreement(), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
    expect(report.checks.length).toBeGreaterThan(5);
  });

  it('conforms with power 2', async () => {
    await checkWeighting(signAgreement({ power: 2 }), { properties: { permutationInvariant: true, scaleInvariantWeights: true } });
  });

  it('trains in the real engine at every site', async () => {
    const report = await trainerSmokeCheck(hardSharing(), signAgreement());
    expect(report.runs.map((run) => run.site)).toEqual(['shared', 'last-shared', 'features']);
  });

  it('refuses unknown and invalid options, also through configure', () => {
    expect(isMtlError(thrownBy(() => signAgreement({ alpha: 1 } as never)), 'BAD_CONFIG')).toBe(true);
    expect(thrownBy(() => signAgreement({ power: -1 })).message).toMatch(/'power' must be a finite number ≥ 0/);
    expect(thrownBy(() => signAgreement().configure!({ power: Number.NaN })).message).toMatch(/'power'/);
    expect((signAgreement().configure!({ power: 3 }) as ReturnType<typeof signAgreement>).name).toBe('sign-agreement');
  });

  it('registers by name from the plugins export', () => {
    const registry = createRegistry();
    for (const factory of plugins) registry.register(factory());
    expect(registry.get('weighting', 'sign-agreement').name).toBe('sign-agreement');
  });
});
