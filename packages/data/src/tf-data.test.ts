import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfData from '@tensorflow/tfjs-data';
import { disposeBatch, fromArrays } from '@mtljs/core';
import type { Batch } from '@mtljs/core';
import { checkNoLeak } from '@mtljs/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixTasks } from './mix';
import { prefetch } from './prefetch';
import { fromTfDataset, toTfDataset } from './tf-data';
import { drain, examplesOf, idSource, mtlErrorOf, range } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('tf.data bridge', () => {
  it('round trip: DataSource → tf.data (format batch) → DataSource keeps inputs, targets and masks', async () => {
    const source = fromArrays(
      { inputs: range(0, 23).map((k) => [k, k * 2]), targets: { a: range(0, 23).map((k) => k % 4), b: range(0, 23).map((k) => (k % 5 === 0 ? null : [k, -k])) } },
      { batchSize: 5 },
    );
    const dataset = await toTfDataset(source, { format: 'batch' });
    const back = fromTfDataset(dataset, { inputs: 'inputs', targets: { a: 'targets.a', b: 'targets.b' }, masks: { a: 'masks.a', b: (e: Batch) => e.masks?.b } });
    const expected = await examplesOf(source);
    const roundTripped = await examplesOf(back);
    expect(roundTripped).toEqual(expected);
    expect(roundTripped.filter((e) => e.masks.b === 0).map((e) => e.id)).toEqual([0, 5, 10, 15, 20]);
    // The dataset can be iterated again: each iterator reads the source afresh.
    expect((await dataset.toArray()).length).toBe(5);
    (await dataset.toArray()).forEach((element) => disposeBatch(element as Batch));
  });

  it('round trip of a prefetched mix: masks that only some batches carry come back as they were', async () => {
    const mixed = mixTasks({ sources: { a: idSource(range(0, 30), 'a', 4), b: idSource(range(100, 110), 'b', 4) }, batchSize: 3, seed: 2 });
    const dataset = await toTfDataset(prefetch(mixed, { batches: 2 }), { format: 'batch' });
    const back = fromTfDataset(dataset, { inputs: 'inputs', targets: { a: 'targets.a', b: 'targets.b' }, masks: { a: 'masks.a', b: 'masks.b' } });
    expect(await examplesOf(back)).toEqual(await examplesOf(mixed));
    await checkNoLeak(() => drain(back), { steps: 2, label: 'tf.data round trip' });
  });

  it("format 'xs-ys' gives { xs, ys } for tf.layers and refuses partly labelled batches", async () => {
    const dataset = await toTfDataset(idSource(range(0, 10), ['a', 'b'], 4), { tfData });
    const elements = await dataset.toArray();
    expect(elements.length).toBe(3);
    expect(Object.keys(elements[0]!)).toEqual(['xs', 'ys']);
    expect((elements[0]!.xs as tf.Tensor).shape).toEqual([4, 3]);
    expect(Object.keys(elements[0]!.ys)).toEqual(['a', 'b']);
    elements.forEach((e) => tf.dispose(e as unknown as tf.TensorContainer));
    const mixed = mixTasks({ sources: { a: idSource(range(0, 10), 'a', 4), b: idSource(range(10, 20), 'b', 4) }, batchSize: 4, seed: 1 });
    const refused = await toTfDataset(mixed);
    const before = tf.memory().numTensors;
    const error = await mtlErrorOf(() => refused.toArray());
    expect(error.message).toMatch(/unlabelled examples .* use format 'batch'/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fromTfDataset batches and shuffles a dataset of single examples, disposing what the batch does not use', async () => {
    const examples = range(0, 30).map((k) => ({ x: tf.tensor1d([k, 1, 2]), label: k % 3, unused: tf.ones([2]) }));
    const dataset = tfData.array(examples);
    const source = fromTfDataset(dataset, { inputs: 'x', targets: { a: 'label' }, batchSize: 8, shuffleBufferSize: 30 });
    expect(source.size).toBe(30);
    const sizes: number[] = [];
    const inOrder = await examplesOf(source, sizes);
    expect(sizes).toEqual([8, 8, 8, 6]);
    expect(inOrder.map((e) => e.id)).toEqual(range(0, 30));
    expect(inOrder.every((e) => e.targets.a === e.id % 3)).toBe(true);
    const shuffled = (await examplesOf(source.shuffled!(4))).map((e) => e.id);
    expect(shuffled).not.toEqual(range(0, 30));
    expect([...shuffled].sort((x, y) => x - y)).toEqual(range(0, 30));
    await checkNoLeak(() => drain(source), { steps: 3, label: 'fromTfDataset' });
    examples.forEach((e) => tf.dispose([e.x, e.unused]));
  });

  it('selector functions may compute tensors; their intermediates are freed', async () => {
    const dataset = tfData.array([{ xs: tf.tensor2d([[1, 2], [3, 4]]), ys: tf.tensor1d([0, 1]) }]);
    const source = fromTfDataset(dataset, {
      inputs: (e) => tf.mul(tf.add(e.xs, 1), 2),
      targets: { a: (e) => e.ys },
    });
    await checkNoLeak(
      async () => {
        for await (const batch of source) {
          expect(Array.from((batch.inputs as tf.Tensor).dataSync())).toEqual([4, 6, 8, 10]);
          disposeBatch(batch);
        }
      },
      { steps: 3, label: 'fromTfDataset selectors' },
    );
  });

  it('errors: a missing key is BAD_DATA naming it and the keys found; a failing dataset is BAD_DATA; bad options are BAD_CONFIG', async () => {
    const dataset = tfData.array([{ xs: [1, 2], ys: 1 }]).batch(1);
    const before = tf.memory().numTensors;
    const missing = await mtlErrorOf(() => drain(fromTfDataset(dataset, { inputs: 'x', targets: { a: 'ys' } })));
    expect(missing.message).toMatch(/inputs 'x': the element has no 'x' \(keys: xs, ys\)/);
    expect(tf.memory().numTensors).toBe(before);
    const failing = tfData.generator(function* () {
      yield { xs: tf.ones([1, 2]), ys: tf.ones([1]) };
      throw new TypeError('broken row');
    });
    const error = await mtlErrorOf(() => drain(fromTfDataset(failing, { inputs: 'xs', targets: { a: 'ys' } })));
    expect(error.message).toMatch(/broken row/);
    await mtlErrorOf(() => fromTfDataset(dataset, { inputs: 'xs', targets: {} }), 'BAD_CONFIG');
    await mtlErrorOf(() => fromTfDataset(dataset, { inputs: 'xs', targets: { a: 'ys' }, shuffleBufferSize: 3 }), 'BAD_CONFIG');
    await mtlErrorOf(() => fromTfDataset({} as never, { inputs: 'xs', targets: { a: 'ys' } }), 'BAD_CONFIG');
    await mtlErrorOf(() => toTfDataset(idSource([1], 'a', 1), { format: 'rows' as never }), 'BAD_CONFIG');
  });
});
