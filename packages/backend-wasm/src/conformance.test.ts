import { cpuBackend } from '@mtljs/backend-cpu';
import { hardSharing } from '@mtljs/sharing-hard';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBackendConformance, type BackendConformanceReport } from '@mtljs/testkit';
import { wasmBackend } from './index';

const measured: string[] = [];

function record(model: string, report: BackendConformanceReport): void {
  for (const run of report.runs) {
    const d = run.maxAbsDifference;
    measured.push(
      `${model}, ${run.case}: objective ${d.objective.toExponential(2)}, losses ${d.losses.toExponential(2)}, weights ${d.weights.toExponential(2)}, variables ${d.variables.toExponential(2)}`,
    );
  }
}

describe('wasm conforms to cpu (testkit checkBackendConformance)', () => {
  afterAll(() => {
    console.info(`max |wasm - cpu| over 3 SGD steps:\n  ${measured.join('\n  ')}`);
  });

  it("on the testkit's model, for a loss-level, a Gramian and a Jacobian weighting", async () => {
    const report = await checkBackendConformance({ backends: [cpuBackend(), wasmBackend()] });
    expect(report.ran).toEqual(['cpu', 'wasm']);
    expect(report.skipped).toEqual([]);
    expect(report.runs).toHaveLength(4);
    record('testkit model', report);
  });

  it('on a hard-sharing model (@mtljs/sharing-hard)', async () => {
    const report = await checkBackendConformance({ backends: [cpuBackend(), wasmBackend()], strategy: hardSharing() });
    expect(report.checks[0]).toContain(`model '${hardSharing().name}'`);
    expect(report.runs).toHaveLength(4);
    record('hard sharing', report);
  });
});
