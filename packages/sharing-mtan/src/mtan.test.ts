import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { conv2d, isMtlError, type ModelSpec, type TaskSpec } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mtan } from './mtan';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const relu = (z: number) => Math.max(0, z);

/** Replaces some of a model's weights by key, through getWeights / setWeights. */
function setSome(model: { getWeights(): tf.NamedTensorMap; setWeights(w: tf.NamedTensorMap): void }, values: Record<string, Tensor>): void {
  const weights = model.getWeights();
  for (const key of Object.keys(values)) {
    if (!(key in weights)) throw new Error(`no weight '${key}'; keys: ${Object.keys(weights).join(', ')}`);
    weights[key]!.dispose();
  }
  model.setWeights({ ...weights, ...values });
  Object.values(weights).forEach((t) => t.dispose());
  Object.values(values).forEach((t) => t.dispose());
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const imageSpec = (tasks: TaskSpec[]): ModelSpec => ({
  tasks,
  inputShape: [8, 8, 1],
  encoder: { type: 'conv', blocks: [{ filters: 4 }, { filters: 4 }] },
});

const twoTasks: TaskSpec[] = [
  { name: 'a', kind: 'regression', units: 1 },
  { name: 'b', kind: 'multiclass', units: 3 },
];

describe('mtan model', () => {
  it('builds the documented variable groups, features and shapes', () => {
    const model = mtan().build(imageSpec(twoTasks), { seed: 1 });
    expect(model.sharedVariables().map((v) => v.shape)).toEqual([[3, 3, 1, 4], [4], [3, 3, 4, 4], [4]]);
    expect(model.lastSharedVariables().map((v) => v.shape)).toEqual([[3, 3, 4, 4], [4]]);
    // attention0 (g 4→4, h 4→4), attention1 (g 8→4, h 4→4), f1 (3×3, 4→4), head 2·2·4 → 3.
    expect(model.taskVariables('b').map((v) => v.shape)).toEqual([
      [1, 1, 4, 4], [4], [1, 1, 4, 4], [4],
      [1, 1, 8, 4], [4], [1, 1, 4, 4], [4],
      [3, 3, 4, 4], [4],
      [16, 3], [3],
    ]);
    const x = tf.randomNormal([5, 8, 8, 1], 0, 1, 'float32', 3);
    tf.tidy(() => {
      const { features, outputs } = model.apply(x, { training: false });
      const record = features as Record<string, Tensor>;
      expect(Object.keys(record)).toEqual(['block0', 'block1']);
      expect(record.block0!.shape).toEqual([5, 4, 4, 4]);
      expect(record.block1!.shape).toEqual([5, 2, 2, 4]);
      expect(outputs.a!.shape).toEqual([5, 1]);
      expect(outputs.b!.shape).toEqual([5, 3]);
      const steps = model.attention(features, 'a');
      expect(steps.map((s) => s.mask.shape)).toEqual([[5, 4, 4, 4], [5, 2, 2, 4]]);
      expect(steps[0]!.carried!.shape).toEqual([5, 2, 2, 4]);
      expect(steps[1]!.carried).toBeUndefined();
      const masks = steps.map((s) => s.mask.dataSync());
      expect(masks.every((m) => m.every((v) => v > 0 && v < 1))).toBe(true);
    });
    // Images given as [N, H, W] when the input shape has no channel axis.
    const gray = mtan().build({ ...imageSpec(twoTasks), inputShape: [8, 8] }, { seed: 1 });
    tf.tidy(() => {
      expect(gray.apply(tf.ones([2, 8, 8]), { training: false }).outputs.b!.shape).toEqual([2, 3]);
    });
    gray.dispose();
    x.dispose();
    model.dispose();
  });

  it('(a) computes the attention mask of a 2×2 map as worked by hand', () => {
    // One block of two 1×1 filters without pooling: shared map s = relu(x·k + b) on a 2×2 image.
    const model = mtan({ attentionUnits: 2 }).build(
      { tasks: [{ name: 't', kind: 'regression', units: 1 }], inputShape: [2, 2, 1], encoder: { type: 'conv', blocks: [{ filters: 2, kernelSize: 1, pool: 'none' }] } },
      { seed: 0 },
    );
    const image = [1, 2, -1, 0.5];
    const k = [1, -0.5];
    const b = [0.1, 0.2];
    const g = [[0.5, -1], [1, 0.25]]; // g[in][hidden]
    const gb = [0, 0.1];
    const h = [[1, -2], [0.5, 1]]; // h[hidden][out]
    const hb = [-0.3, 0.2];
    const head = [0.7, -0.2, 0.1, 0.4, -0.6, 0.3, 0.9, -0.8]; // flattened (y, x, channel) order
    setSome(model, {
      'mtan/encoder/conv0/kernel': tf.tensor4d(k, [1, 1, 1, 2]),
      'mtan/encoder/conv0/bias': tf.tensor1d(b),
      'mtan/task/t/attention0/g/kernel': tf.tensor4d(g.flat(), [1, 1, 2, 2]),
      'mtan/task/t/attention0/g/bias': tf.tensor1d(gb),
      'mtan/task/t/attention0/h/kernel': tf.tensor4d(h.flat(), [1, 1, 2, 2]),
      'mtan/task/t/attention0/h/bias': tf.tensor1d(hb),
      'mtan/head/t/dense0/kernel': tf.tensor2d(head, [8, 1]),
      'mtan/head/t/dense0/bias': tf.tensor1d([0.05]),
    });
    // By hand, pixel by pixel.
    const expectedMask: number[] = [];
    const expectedAttended: number[] = [];
    for (const x of image) {
      const s = [0, 1].map((c) => relu(x * k[c]! + b[c]!));
      const hidden = [0, 1].map((j) => relu(s[0]! * g[0]![j]! + s[1]! * g[1]![j]! + gb[j]!));
      for (const c of [0, 1]) {
        const a = sigmoid(hidden[0]! * h[0]![c]! + hidden[1]! * h[1]![c]! + hb[c]!);
        expectedMask.push(a);
        expectedAttended.push(a * s[c]!);
      }
    }
    const expectedOutput = expectedAttended.reduce((sum, v, i) => sum + v * head[i]!, 0.05);
    const input = tf.tensor4d(image, [1, 2, 2, 1]);
    tf.tidy(() => {
      const features = model.encode(input, { training: false });
      const [step] = model.attention(features, 't');
      const mask = Array.from(step!.mask.dataSync());
      mask.forEach((v, i) => expect(v).toBeCloseTo(expectedMask[i]!, 6));
      Array.from(step!.attended.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectedAttended[i]!, 6));
      expect(model.apply(input, { training: false }).outputs.t!.dataSync()[0]).toBeCloseTo(expectedOutput, 6);
      // The measured numbers, for the report.
      expect(mask.map((v) => Number(v.toFixed(4)))).toEqual([0.5622, 0.2891, 0.6792, 0.1301, 0.6312, 0.2839, 0.5, 0.4013]);
    });
    input.dispose();
    model.dispose();
  });

  it('(a) concatenates [shared map; carried map] at the second block, as worked by hand', () => {
    // Two blocks of one 1×1 filter: every pixel is a scalar chain, computed here without tensors.
    const model = mtan({ attentionUnits: 1 }).build(
      {
        tasks: [{ name: 't', kind: 'regression', units: 1 }],
        inputShape: [2, 2, 1],
        encoder: { type: 'conv', blocks: [{ filters: 1, kernelSize: 1, pool: 'none' }, { filters: 1, kernelSize: 1, pool: 'none' }] },
      },
      { seed: 0 },
    );
    const w = { k0: 0.8, b0: 0.1, k1: -1.2, b1: 0.9, g0: 1.5, gb0: -0.2, h0: -0.7, hb0: 0.3, f: 0.6, fb: 0.05, gs: 0.4, gc: -1.1, gb1: 0.5, h1: 2, hb1: -0.4 };
    setSome(model, {
      'mtan/encoder/conv0/kernel': tf.tensor4d([w.k0], [1, 1, 1, 1]),
      'mtan/encoder/conv0/bias': tf.tensor1d([w.b0]),
      'mtan/encoder/conv1/kernel': tf.tensor4d([w.k1], [1, 1, 1, 1]),
      'mtan/encoder/conv1/bias': tf.tensor1d([w.b1]),
      'mtan/task/t/attention0/g/kernel': tf.tensor4d([w.g0], [1, 1, 1, 1]),
      'mtan/task/t/attention0/g/bias': tf.tensor1d([w.gb0]),
      'mtan/task/t/attention0/h/kernel': tf.tensor4d([w.h0], [1, 1, 1, 1]),
      'mtan/task/t/attention0/h/bias': tf.tensor1d([w.hb0]),
      'mtan/task/t/conv1/kernel': tf.tensor4d([w.f], [1, 1, 1, 1]),
      'mtan/task/t/conv1/bias': tf.tensor1d([w.fb]),
      // Input channels of g at block 1: [shared block-1 map, carried map].
      'mtan/task/t/attention1/g/kernel': tf.tensor4d([w.gs, w.gc], [1, 1, 2, 1]),
      'mtan/task/t/attention1/g/bias': tf.tensor1d([w.gb1]),
      'mtan/task/t/attention1/h/kernel': tf.tensor4d([w.h1], [1, 1, 1, 1]),
      'mtan/task/t/attention1/h/bias': tf.tensor1d([w.hb1]),
    });
    const image = [0.5, -0.3, 2, 1];
    const expected = image.map((x) => {
      const s0 = relu(w.k0 * x + w.b0);
      const a0 = sigmoid(w.h0 * relu(w.g0 * s0 + w.gb0) + w.hb0);
      const carried = relu(w.f * a0 * s0 + w.fb);
      const s1 = relu(w.k1 * s0 + w.b1);
      const a1 = sigmoid(w.h1 * relu(w.gs * s1 + w.gc * carried + w.gb1) + w.hb1);
      return { a0, carried, a1, attended: a1 * s1 };
    });
    const input = tf.tensor4d(image, [1, 2, 2, 1]);
    tf.tidy(() => {
      const steps = model.attention(model.encode(input, { training: false }), 't');
      const read = (t: Tensor | undefined) => Array.from(t!.dataSync());
      read(steps[0]!.mask).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!.a0, 6));
      read(steps[0]!.carried).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!.carried, 6));
      read(steps[1]!.mask).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!.a1, 6));
      read(steps[1]!.attended).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!.attended, 6));
    });
    input.dispose();
    model.dispose();
  });

  it('(b) with the masks forced to 1, the first attended map is the shared map, carried through the task conv', () => {
    const model = mtan().build(imageSpec(twoTasks), { seed: 5 });
    // sigmoid(z + 60) rounds to 1 in float32 for any z > −43; the random pre-activations are O(1).
    setSome(model, {
      'mtan/task/a/attention0/h/bias': tf.fill([4], 60),
      'mtan/task/a/attention1/h/bias': tf.fill([4], 60),
    });
    const weights = model.getWeights();
    const x = tf.randomNormal([6, 8, 8, 1], 0, 1, 'float32', 11);
    tf.tidy(() => {
      const features = model.encode(x, { training: false }) as Record<string, Tensor4D>;
      const steps = model.attention(features, 'a');
      expect(tf.min(steps[0]!.mask).dataSync()[0]).toBe(1);
      expect(maxAbsDiff(steps[0]!.attended, features.block0!)).toBe(0);
      // f_1 by hand with core's conv2d: maxPool2(relu(conv3×3(shared_0) + bias)).
      const independent = tf.maxPool(
        tf.relu(tf.add(conv2d(features.block0!, weights['mtan/task/a/conv1/kernel'] as Tensor4D, 1, 'same'), weights['mtan/task/a/conv1/bias']!)) as Tensor4D,
        2,
        2,
        'valid',
      );
      const gap = maxAbsDiff(steps[0]!.carried!, independent);
      expect(gap).toBeLessThan(1e-6);
      // Both masks at 1: the output is the head on the flattened last shared map.
      const head = tf.add(tf.matMul(tf.reshape(features.block1!, [6, -1]), weights['mtan/head/a/dense0/kernel'] as tf.Tensor2D), weights['mtan/head/a/dense0/bias']!);
      expect(maxAbsDiff(model.decode(features, x, { training: false }, ['a']).a!, head)).toBeLessThan(1e-6);
    });
    Object.values(weights).forEach((t) => t.dispose());
    x.dispose();
    model.dispose();
  });

  it("(c) task a's output does not change when task b's attention weights change", () => {
    const model = mtan().build(imageSpec(twoTasks), { seed: 2 });
    const x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 7);
    const before = tf.tidy(() => model.apply(x, { training: false }).outputs);
    const weights = model.getWeights();
    const changed = Object.keys(weights).filter((key) => key.startsWith('mtan/task/b/'));
    expect(changed).toHaveLength(10);
    setSome(model, Object.fromEntries(changed.map((key) => [key, tf.tidy(() => tf.add(weights[key]!, tf.randomNormal(weights[key]!.shape, 0, 1, 'float32', 1)))])));
    const after = tf.tidy(() => model.apply(x, { training: false }).outputs);
    expect(maxAbsDiff(after.a!, before.a!)).toBe(0);
    expect(maxAbsDiff(after.b!, before.b!)).toBeGreaterThan(1e-3);
    [...Object.values(before), ...Object.values(after), ...Object.values(weights)].forEach((t) => t.dispose());
    x.dispose();
    model.dispose();
  });

  it('bad options, specs and inputs are MtlErrors naming the problem', () => {
    const code = (run: () => unknown, wanted: string): string => {
      try {
        run();
      } catch (error) {
        expect(isMtlError(error, wanted as never)).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected an MtlError');
    };
    expect(code(() => mtan({ attentionUnit: 3 } as never), 'BAD_CONFIG')).toContain("unknown option 'attentionUnit'");
    expect(code(() => mtan({ attentionUnits: 0 }), 'BAD_CONFIG')).toContain("option 'attentionUnits' must be a positive integer");
    expect(code(() => mtan({ attentionUnits: [] }), 'BAD_CONFIG')).toContain("option 'attentionUnits'");
    expect(code(() => mtan({ taskKernelSize: 2.5 }), 'BAD_CONFIG')).toContain("option 'taskKernelSize' must be a positive integer, got 2.5");
    const spec = imageSpec(twoTasks);
    expect(code(() => mtan({ attentionUnits: [2, 2, 2] }).build(spec, { seed: 0 }), 'BAD_CONFIG')).toContain("'attentionUnits' lists 3 widths for 2 encoder blocks");
    expect(code(() => mtan().build({ ...spec, encoder: { type: 'mlp', units: [4] } }, { seed: 0 }), 'BAD_CONFIG')).toContain(
      "spec.encoder must be a conv spec { type: 'conv', blocks: [{ filters }, ...] }: the attention modules read every block's feature map; got type \"mlp\"",
    );
    expect(code(() => mtan().build({ ...spec, encoder: { type: 'conv', blocks: [{ filters: 4 }], dense: [8] } }, { seed: 0 }), 'BAD_CONFIG')).toContain(
      'spec.encoder.dense is not supported',
    );
    const valid = { type: 'conv' as const, blocks: [{ filters: 4 }, { filters: 4, padding: 'valid' as const, pool: 'none' as const }] };
    expect(code(() => mtan({ taskKernelSize: 1 }).build({ ...spec, encoder: valid }, { seed: 0 }), 'BAD_CONFIG')).toContain(
      "option 'taskKernelSize' 1 differs from encoder block 1's kernelSize 3, and that block has 'valid' padding",
    );
    expect(code(() => mtan().build({ ...spec, encoder: { type: 'conv', blocks: [] } }, { seed: 0 }), 'BAD_CONFIG')).toContain('at least one block');
    expect(code(() => mtan().build({ ...spec, tasks: [twoTasks[0]!, twoTasks[0]!] }, { seed: 0 }), 'BAD_CONFIG')).toContain("task name 'a' is used twice");
    expect(code(() => mtan().build({ ...spec, tasks: [{ name: 'c', kind: 'binary', units: 2 }] }, { seed: 0 }), 'BAD_CONFIG')).toContain("task 'c': a binary task has units 1");
    mtan().build({ ...spec, encoder: valid }, { seed: 0 }).dispose();
    // A build that fails half-way frees what it had made.
    const before = tf.memory().numTensors;
    code(() => mtan({ taskKernelSize: 1 }).build({ ...spec, encoder: valid }, { seed: 0 }), 'BAD_CONFIG');
    code(() => mtan().build({ ...spec, head: { type: 'oops' } as never }, { seed: 0 }), 'BAD_CONFIG');
    expect(tf.memory().numTensors).toBe(before);
    const model = mtan().build(spec, { seed: 0 });
    expect(code(() => model.apply(tf.ones([2, 8, 8, 3]), { training: false }), 'SHAPE_MISMATCH')).toBe(
      "sharing 'mtan': inputs of shape [2, 8, 8, 3] do not match the model's input shape [N, 8, 8, 1]",
    );
    expect(code(() => model.decode(tf.ones([2, 4]), tf.ones([2, 8, 8, 1]), { training: false }), 'BAD_DATA')).toContain('features must be the record');
    expect(code(() => model.decode({ block0: tf.ones([2, 4, 4, 4]) }, tf.ones([2, 8, 8, 1]), { training: false }), 'BAD_DATA')).toContain(
      "features 'block1' must be a [N, 2, 2, 4] tensor",
    );
    expect(code(() => model.taskVariables('z'), 'BAD_CONFIG')).toContain("no task named 'z'");
    model.dispose();
  });
});
