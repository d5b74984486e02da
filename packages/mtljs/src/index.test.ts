import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, defaultRegistry, fromArrays, registerStandardPlugins, syntheticTasks, Trainer, useBackend } from './index';

beforeAll(async () => {
  await useBackend('cpu', { log: () => {} });
});

describe('the umbrella package', () => {
  it('registers the standard plugins on import, by name', () => {
    const registry = defaultRegistry();
    expect(registry.list('sharing')).toEqual(['clustered', 'cross-stitch', 'dselect-k', 'hard', 'mmoe', 'mtan', 'ple', 'soft']);
    expect(registry.list('weighting')).toEqual(['aligned-mtl',  'cagrad',  'config',  'db-mtl',  'dualproj',  'dwa',  'ew',  'famo',  'gls',  'graddrop',  'gradnorm',  'gradvac',  'imtl-g',  'mgda',  'nash-mtl',  'pcgrad',  'rlw',  'static',  'uncertainty',  'upgrad']);
    expect(registry.list('backend')).toEqual(['cpu', 'node', 'wasm', 'webgpu']);
    expect(registry.list('data')).toEqual(['csv', 'idx', 'jsonl']);
    expect(registry.list('dataset')).toEqual(['multi-fashion', 'multi-mnist', 'synthetic']);
    expect(tf.getBackend()).toBe('cpu');
  });

  it("data adapters and datasets work by name: 'synthetic' loads its splits, 'csv' opens bytes with a column mapping", async () => {
    const registry = defaultRegistry();
    const loaded = await registry.get('dataset', 'synthetic').load({ tasks: 3, trainSize: 40, validationSize: 20, inputDim: 6, batchSize: 20, seed: 3 });
    expect(loaded.tasks.map((t) => t.name)).toEqual(['task1', 'task2', 'task3']);
    expect(loaded.inputShape).toEqual([6]);
    let rows = 0;
    for await (const batch of loaded.train) {
      rows += (batch.inputs as tf.Tensor).shape[0]!;
      tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
    }
    expect(rows).toBe(40);
    const csv = new TextEncoder().encode('x1,x2,y\n1,2,3\n4,5,6\n7,8,9\n');
    const source = registry.get('data', 'csv').open(csv, { columns: { inputs: ['x1', 'x2'], tasks: { y: { column: 'y', kind: 'regression' } } }, batchSize: 2 });
    const sizes: number[] = [];
    const targets: number[] = [];
    for await (const batch of source) {
      sizes.push((batch.inputs as tf.Tensor).shape[0]!);
      targets.push(...(batch.targets['y']!.dataSync() as Float32Array));
      tf.dispose([batch.inputs as tf.Tensor, ...Object.values(batch.targets)]);
    }
    expect(sizes).toEqual([2, 1]);
    expect(targets).toEqual([3, 6, 9]);
    await expect(registry.get('dataset', 'synthetic').load({ tasks: 0 })).rejects.toThrow(/tasks must be a positive integer/);
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

  it('every registered sharing strategy trains by name with equal weighting', async () => {
    const data = syntheticTasks({ tasks: 2, trainSize: 64, validationSize: 32, inputDim: 16, batchSize: 32, seed: 2 });
    const [a, b] = data.tasks.map((t) => t.name);
    for (const name of defaultRegistry().list('sharing')) {
      // MTAN needs a conv encoder: the 16 inputs are read as a 4×4 image; clustered needs its groups.
      const conv = name === 'mtan';
      const strategy = defaultRegistry().resolve('sharing', name === 'clustered' ? { name, options: { groups: [[a], [b]] } } : name);
      const model = strategy.build(
        { tasks: data.tasks, inputShape: conv ? [4, 4, 1] : data.inputShape, encoder: conv ? { type: 'conv', blocks: [{ filters: 2 }] } : { type: 'mlp', units: [8] } },
        { seed: 1 },
      );
      const trainer = new Trainer({ model, optimizer: { name: 'adam', learningRate: 0.01 } });
      const reports: number[] = [];
      const source = conv ? fromArrays({ inputs: data.arrays.train.inputs, inputShape: [4, 4, 1], targets: data.arrays.train.targets }, { batchSize: 32 }) : data.train;
      await trainer.fit(source, { epochs: 4, callbacks: { onStep: (r) => void reports.push(r.loss) } });
      expect(reports.length, name).toBe(8);
      expect(reports[reports.length - 1]!, name).toBeLessThan(reports[0]!);
      trainer.dispose();
      model.dispose();
    }
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
