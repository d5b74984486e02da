import 'mtljs';
import * as tf from '@tensorflow/tfjs-core';
import { API_VERSION, defaultRegistry, useBackend, type Backend } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { backendChoices, modelSpec, sharingChoices, siteChoices, weightingChoices } from './catalog';
import { firstBatches, makeDataset } from './session';
import { DEFAULT_SETTINGS } from './settings';

const registry = defaultRegistry();

beforeAll(async () => {
  await useBackend('cpu', { registry, log: () => {} });
});

describe('sharingChoices', () => {
  it('lists every registered strategy; those that cannot build on an MLP encoder carry the reason; no tensor is left', () => {
    const data = makeDataset({ ...DEFAULT_SETTINGS, dataset: { ...DEFAULT_SETTINGS.dataset, trainSize: 128, validationSize: 16 } });
    const before = tf.memory().numTensors;
    const choices = sharingChoices(registry, modelSpec(DEFAULT_SETTINGS, data.tasks, data.inputShape), {
      tasks: data.tasks,
      warmupBatches: () => firstBatches(data.train, 1),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(choices.map((c) => c.name).sort()).toEqual(registry.list('sharing'));
    const byName = Object.fromEntries(choices.map((c) => [c.name, c]));
    // MTAN's attention reads the feature maps of a convolutional encoder.
    expect(byName['mtan']).toMatchObject({ usable: false });
    expect(byName['mtan']!.reason).toContain("spec.encoder must be a conv spec");
    // Clustered builds once the playground gives it a warm-up.
    for (const name of ['hard', 'soft', 'cross-stitch', 'mmoe', 'ple', 'dselect-k', 'clustered']) expect(byName[name], name).toMatchObject({ usable: true });
  });
});

describe('weightingChoices and siteChoices', () => {
  it('lists every registered weighting with its level, and the sites a strategy allows', () => {
    const choices = weightingChoices(registry);
    expect(choices.map((c) => c.name).sort()).toEqual(registry.list('weighting'));
    const pcgrad = choices.find((c) => c.name === 'pcgrad')!;
    expect(pcgrad.level).toBe('gramian');
    const plugin = registry.get('weighting', 'pcgrad');
    expect(plugin.level === 'gramian' ? [...plugin.sites] : null).toEqual(pcgrad.sites);
    expect(siteChoices(pcgrad, registry.get('sharing', 'hard'))).toEqual(pcgrad.sites);
    const restricted = { ...registry.get('sharing', 'hard'), sites: ['features'] as const };
    expect(siteChoices(pcgrad, restricted)).toEqual(['features']);
    const ew = choices.find((c) => c.name === 'ew')!;
    expect(ew).toMatchObject({ level: 'loss', sites: [] });
    expect(siteChoices(ew, undefined)).toEqual([]);
  });
});

describe('backendChoices', () => {
  it("reports isAvailable()'s answer, and a check that throws as unavailable with its message", async () => {
    const broken: Backend = {
      kind: 'backend',
      name: 'broken',
      apiVersion: API_VERSION,
      priority: 5,
      isAvailable: () => Promise.reject(new Error('no device')),
      activate: () => Promise.resolve(),
    };
    const choices = await backendChoices([registry.get('backend', 'cpu'), broken]);
    expect(choices[0]).toMatchObject({ name: 'cpu', usable: true, priority: 10 });
    expect(choices[0]!.reason.length).toBeGreaterThan(0);
    expect(choices[1]).toEqual({ name: 'broken', usable: false, reason: 'isAvailable() failed: no device', priority: 5 });
  });
});
