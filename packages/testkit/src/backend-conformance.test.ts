import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { API_VERSION, isMtlError, staticWeighting, type Backend } from '@mtljs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkBackendConformance, defaultBackendCases } from './backend-conformance';
import { clipNormWeighting } from './clip-norm';
import { ConformanceError } from './errors';

// The testkit has no backend plugin packages among its dependencies, so its own test compares
// tfjs backends made here from the cpu kernels: an exact copy must agree to the last bit, and a
// copy with one kernel changed must be caught, at the quantity and step where it first shows.
// The real cpu-vs-wasm run is in @mtljs/backend-wasm (src/conformance.test.ts).

type KernelFunc = tf.KernelConfig['kernelFunc'];

/** A tfjs backend `name` with the cpu kernels, `change` wrapping some of them. */
function cpuCopy(name: string, change: Record<string, (original: KernelFunc) => KernelFunc> = {}): void {
  if (tf.findBackendFactory(name)) return;
  for (const kernel of tf.getKernelsForBackend('cpu')) {
    const wrap = change[kernel.kernelName];
    tf.registerKernel({ ...kernel, backendName: name, kernelFunc: wrap ? wrap(kernel.kernelFunc) : kernel.kernelFunc });
  }
  tf.registerBackend(name, () => new MathBackendCPU(), 0);
}

function plugin(name: string, status: { available: boolean; reason: string } = { available: true, reason: 'test backend' }): Backend {
  return {
    kind: 'backend',
    name,
    apiVersion: API_VERSION,
    priority: 10,
    isAvailable: async () => status,
    activate: async () => {
      if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
    },
  };
}

async function conformanceError(run: () => Promise<unknown>): Promise<ConformanceError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ConformanceError) return error;
    throw error;
  }
  throw new Error('expected a ConformanceError');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  cpuCopy('cpu-copy');
  // relu's gradient is dy · step(x): a changed Step kernel alters gradients only, not the forward pass.
  cpuCopy('cpu-bad-gradient', {
    Step: (original) => (args) => {
      const backend = args.backend as MathBackendCPU;
      const output = original(args) as tf.TensorInfo;
      const values = (backend.readSync(output.dataId) as Float32Array).map((value) => value * 1.01);
      backend.disposeData(output.dataId);
      return backend.makeTensorInfo(output.shape, output.dtype, values);
    },
  });
});

describe('checkBackendConformance', () => {
  it('passes two backends with the same kernels, with zero differences, and reports what it ran', async () => {
    const before = tf.memory().numTensors;
    const report = await checkBackendConformance({ backends: [plugin('cpu-copy'), plugin('cpu')], steps: 2 });
    expect(report.reference).toBe('cpu');
    expect(report.ran).toEqual(['cpu', 'cpu-copy']);
    expect(report.skipped).toEqual([]);
    expect(report.cases).toEqual(defaultBackendCases().map((c) => c.label));
    expect(report.runs).toHaveLength(4);
    for (const run of report.runs) {
      expect(run.backend).toBe('cpu-copy');
      expect(run.maxAbsDifference).toEqual({ objective: 0, losses: 0, weights: 0, variables: 0 });
    }
    expect(report.checks.length).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    // The backend current before is current again.
    expect(tf.getBackend()).toBe('cpu');
  });

  it('catches a backend whose gradients differ: names the backend, case, step and variable', async () => {
    const error = await conformanceError(() => checkBackendConformance({ backends: [plugin('cpu'), plugin('cpu-bad-gradient')], steps: 2 }));
    expect(error.subject).toBe("backend 'cpu-bad-gradient'");
    // Step 0's forward pass agrees (losses, objective); its update does not.
    expect(error.check).toBe('variables');
    expect(error.message).toMatch(
      /^backend 'cpu-bad-gradient': equal weighting \(loss level\), step 0: variable '[^']+' \(after the update\) at index \d+ is -?[\d.e-]+, 'cpu' gives -?[\d.e-]+ \(difference [\d.]+e-\d+ > tolerance 0\.0001\)$/,
    );
  });

  it('catches it in the weights of a Gramian weighting too, and honours the tolerance', async () => {
    const error = await conformanceError(() =>
      checkBackendConformance({ backends: [plugin('cpu'), plugin('cpu-bad-gradient')], weightings: [defaultBackendCases()[1]!], steps: 1 }),
    );
    expect(error.check).toBe('weights');
    expect(error.message).toMatch(/^backend 'cpu-bad-gradient': Gramian w_t = 1\/√G_tt at 'shared', step 0: the weight of task 'a' is /);
    // A loose enough tolerance lets it through, and the report has the size of the difference.
    const report = await checkBackendConformance({ backends: [plugin('cpu'), plugin('cpu-bad-gradient')], weightings: [defaultBackendCases()[1]!], steps: 1, tolerance: 1 });
    const difference = report.runs[0]!.maxAbsDifference;
    expect(difference.losses).toBe(0);
    expect(difference.weights).toBeGreaterThan(1e-4);
    expect(difference.variables).toBeGreaterThan(1e-4);
  });

  it('skips an unavailable backend with its reason, unless it is required', async () => {
    const missing = plugin('webgpu', { available: false, reason: 'no adapter' });
    const report = await checkBackendConformance({ backends: [plugin('cpu'), missing], steps: 1, weightings: [staticWeighting({ weights: { a: 2 } })] });
    expect(report.ran).toEqual(['cpu']);
    expect(report.skipped).toEqual([{ backend: 'webgpu', reason: 'no adapter' }]);
    expect(report.runs).toEqual([]);
    expect(report.cases).toEqual(['static']);

    const error = await conformanceError(() => checkBackendConformance({ backends: [plugin('cpu'), missing], required: ['webgpu'], steps: 1 }));
    expect(error.message).toBe("backend 'webgpu': required, but not available here: no adapter");
  });

  it('takes any cases, spec and optimiser: a bare weighting, a Gramian one at last-shared, multilabel tasks, Adam', async () => {
    const report = await checkBackendConformance({
      backends: [plugin('cpu'), plugin('cpu-copy')],
      weightings: [clipNormWeighting(['shared', 'last-shared']), { weighting: clipNormWeighting(['last-shared']), site: 'last-shared', label: 'clip at last-shared' }],
      spec: {
        tasks: [
          { name: 'x', kind: 'multilabel', units: 2 },
          { name: 'y', kind: 'regression', units: 2 },
        ],
        inputShape: [2, 3],
        encoder: { type: 'mlp', units: [5] },
      },
      optimizer: { name: 'adam', learningRate: 0.01 },
      steps: 2,
    });
    expect(report.cases).toEqual(['testkit-clip-norm', 'clip at last-shared']);
    expect(report.runs.map((run) => run.maxAbsDifference.variables)).toEqual([0, 0]);
  });

  it('reports a backend that fails to start, or to train, as a ConformanceError', async () => {
    const broken: Backend = { ...plugin('broken'), activate: async () => Promise.reject(new Error('device lost')) };
    const error = await conformanceError(() => checkBackendConformance({ backends: [plugin('cpu'), broken], steps: 1 }));
    expect(error.message).toBe("backend 'broken': it said it was available, but activate() threw: device lost");
    expect(error.check).toBe('activate');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses a configuration it cannot run', async () => {
    const bad = async (run: () => Promise<unknown>): Promise<string> => {
      try {
        await run();
      } catch (error) {
        expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected BAD_CONFIG');
    };
    expect(await bad(() => checkBackendConformance({ backends: [plugin('cpu-copy')] }))).toBe(
      "checkBackendConformance: the reference backend 'cpu' is not among the backends given (cpu-copy); add it (e.g. cpuBackend() from @mtljs/backend-cpu) or pass { reference }",
    );
    expect(await bad(() => checkBackendConformance({ backends: [plugin('cpu'), plugin('cpu')] }))).toMatch(/backend 'cpu' is given twice/);
    expect(await bad(() => checkBackendConformance({ backends: [plugin('cpu')], steps: 0 }))).toMatch(/steps must be a positive integer/);
    expect(await bad(() => checkBackendConformance({ backends: [plugin('cpu')], required: ['wasm'] }))).toMatch(/required backend wasm is not among/);
    const reference = await conformanceError(() => checkBackendConformance({ backends: [plugin('cpu', { available: false, reason: 'gone' })] }));
    expect(reference.message).toBe("backend 'cpu': the reference backend is not available here: gone");
  });
});
