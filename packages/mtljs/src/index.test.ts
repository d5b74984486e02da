import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, defaultRegistry, registerStandardPlugins, syntheticTasks, Trainer, useBackend } from './index';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

describe('the umbrella package', () => {
  it('registers the standard plugins on import, by name', () => {
    const registry = defaultRegistry();
    expect(registry.list('sharing')).toContain('hard');
    expect(registry.list('weighting')).toEqual(['aligned-mtl',  'cagrad',  'config',  'db-mtl',  'dualproj',  'dwa',  'ew',  'famo',  'gls',  'graddrop',  'gradnorm',  'gradvac',  'imtl-g',  'mgda',  'nash-mtl',  'pcgrad',  'rlw',  'static',  'uncertainty',  'upgrad']);
    expect(registry.list('backend')).toEqual(['cpu', 'wasm']);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('registering again adds nothing and keeps a plugin the user registered first', () => {
    const registry = createRegistry();
    const mine = { kind: 'weighting', name: 'pcgrad', apiVersion: 1, level: 'loss' } as const;
    registry.register(mine as never);
    const added = registerStandardPlugins(registry);
    expect(added).not.toContain('weighting:pcgrad');
    expect(registry.get('weighting', 'pcgrad')).toBe(mine);
    expect(registerStandardPlugins(registry)).toEqual([]);
  });

  it('every registered weighting trains a hard-sharing model by name', async () => {
    const data = syntheticTasks({ tasks: 2, trainSize: 64, validationSize: 32, inputDim: 8, batchSize: 32, seed: 1 });
    const sharing = defaultRegistry().get('sharing', 'hard');
    const trainers: string[] = [];
    for (const name of defaultRegistry().list('weighting')) {
      const model = sharing.build({ tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [8] } }, { seed: 1 });
      const weighting = name === 'static' ? { name, options: { weights: { task1: 2 } } } : name;
      const trainer = new Trainer({ model, weighting, seed: 1 });
      trainers.push(name);
      const history = await trainer.fit(data.train, { epochs: 3 });
      for (const loss of Object.values(history[2]!.trainLosses)) expect(Number.isFinite(loss)).toBe(true);
      trainer.dispose();
      model.dispose();
    }
    expect(trainers).toHaveLength(20);
  });

  it('every registered weighting trains on the wasm backend, at every site it supports', async () => {
    // wasm lacks some gradient kernels the cpu backend has (UnsortedSegmentSum, behind tf.gather's
    // gradient, is one): each plugin's own tests run on cpu, so this run covers wasm.
    await useBackend('wasm', { log: () => {} });
    try {
      const data = syntheticTasks({ tasks: 2, trainSize: 32, validationSize: 8, inputDim: 8, batchSize: 16, seed: 2 });
      const sharing = defaultRegistry().get('sharing', 'hard');
      const ran: string[] = [];
      for (const name of defaultRegistry().list('weighting')) {
        const plugin = defaultRegistry().get('weighting', name);
        const sites = plugin.level === 'loss' ? [undefined] : [...plugin.sites];
        for (const site of sites) {
          const model = sharing.build({ tasks: data.tasks, inputShape: data.inputShape, encoder: { type: 'mlp', units: [8] } }, { seed: 1 });
          const weighting = name === 'static' ? { name, options: { weights: { task1: 2 } } } : name;
          const trainer = new Trainer({ model, weighting, site, seed: 1 });
          const history = await trainer.fit(data.train, { epochs: 2 });
          for (const loss of Object.values(history[1]!.trainLosses)) expect(Number.isFinite(loss), `${name} at ${site}`).toBe(true);
          ran.push(`${name}@${site ?? 'loss'}`);
          trainer.dispose();
          model.dispose();
        }
      }
      expect(ran.length).toBeGreaterThan(30);
    } finally {
      await useBackend('cpu', { log: () => {} });
    }
  });
});
