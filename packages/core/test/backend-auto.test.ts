import { describe, expect, it } from 'vitest';
import { API_VERSION, BACKEND_PRIORITY, createRegistry, isMtlError, MtlError, useBackend, type Backend } from '../src/index';

interface FakeOptions {
  available?: boolean;
  reason?: string;
  /** Returned by isAvailable() when set. */
  priority?: unknown;
  /** activate() throws this. */
  fails?: unknown;
  /** isAvailable() throws this. */
  checkThrows?: unknown;
}

/** A backend plugin that touches no tfjs backend and records what was called, in `events`. */
function fake(name: string, priority: number, events: string[], options: FakeOptions = {}): Backend {
  return {
    kind: 'backend',
    name,
    apiVersion: API_VERSION,
    priority,
    async isAvailable() {
      events.push(`check ${name}`);
      if (options.checkThrows !== undefined) throw options.checkThrows;
      const available = options.available ?? true;
      const status = { available, reason: options.reason ?? (available ? `${name} found` : `${name} missing`) };
      return (options.priority === undefined ? status : { ...status, priority: options.priority }) as { available: boolean; reason: string; priority?: number };
    },
    async activate() {
      events.push(`activate ${name}`);
      if (options.fails !== undefined) throw options.fails;
    },
  };
}

async function auto(backends: Backend[]): Promise<{ name: string; lines: string[]; candidates: { name: string; outcome: string; priority: number }[] }> {
  const lines: string[] = [];
  const choice = await useBackend('auto', { backends, log: (line) => lines.push(line) });
  return { name: choice.name, lines, candidates: choice.candidates.map(({ name, outcome, priority }) => ({ name, outcome, priority })) };
}

async function thrown(run: () => Promise<unknown>): Promise<MtlError> {
  try {
    await run();
  } catch (error) {
    if (isMtlError(error)) return error;
    throw error;
  }
  throw new Error('expected an MtlError');
}

const silent = () => {};

describe('standard priorities', () => {
  it('rank native > hardware WebGPU > wasm > software WebGPU > cpu, with the values backend-cpu and backend-wasm use', () => {
    const order = [BACKEND_PRIORITY.native, BACKEND_PRIORITY.webgpuHardware, BACKEND_PRIORITY.wasm, BACKEND_PRIORITY.webgpuSoftware, BACKEND_PRIORITY.cpu];
    expect([...order].sort((a, b) => b - a)).toEqual(order);
    // @mtljs/backend-cpu and @mtljs/backend-wasm declare these (their own tests assert them).
    expect(BACKEND_PRIORITY.cpu).toBe(10);
    expect(BACKEND_PRIORITY.wasm).toBe(30);
  });
});

describe("useBackend('auto')", () => {
  it('checks every candidate before activating any, then activates only the best', async () => {
    const events: string[] = [];
    const { name } = await auto([fake('cpu', 10, events), fake('gpu', 40, events), fake('wasm', 30, events)]);
    expect(name).toBe('gpu');
    expect(events).toEqual(['check gpu', 'check wasm', 'check cpu', 'activate gpu']);
  });

  it('ranks by the priority isAvailable() returns: a software WebGPU adapter goes below wasm', async () => {
    const events: string[] = [];
    const software = fake('webgpu', BACKEND_PRIORITY.webgpuHardware, events, { priority: BACKEND_PRIORITY.webgpuSoftware, reason: 'software adapter (SwiftShader)' });
    const result = await auto([software, fake('wasm', 30, events), fake('cpu', 10, events)]);
    expect(result.name).toBe('wasm');
    expect(events).not.toContain('activate webgpu');
    expect(result.candidates).toEqual([
      { name: 'wasm', outcome: 'chosen', priority: 30 },
      { name: 'webgpu', outcome: 'not-tried', priority: 20 },
      { name: 'cpu', outcome: 'not-tried', priority: 10 },
    ]);
    expect(result.lines).toEqual([
      "mtljs: using backend 'wasm': highest-priority available backend (priority 30; wasm found); " +
        "passed over: 'webgpu' (priority 20, declared 40) ranks below it: software adapter (SwiftShader)",
    ]);
  });

  it('and a hardware adapter above it; a returned priority can also raise a plugin', async () => {
    const events: string[] = [];
    const hardware = fake('webgpu', BACKEND_PRIORITY.webgpuSoftware, events, { priority: BACKEND_PRIORITY.webgpuHardware, reason: 'adapter: NVIDIA' });
    const result = await auto([fake('cpu', 10, events), fake('wasm', 30, events), hardware]);
    expect(result.name).toBe('webgpu');
    expect(result.lines[0]).toBe("mtljs: using backend 'webgpu': highest-priority available backend (priority 40, declared 20; adapter: NVIDIA)");
  });

  it('falls back to the next candidate when activate() throws, and says so', async () => {
    const events: string[] = [];
    const result = await auto([
      fake('node', 50, events, { fails: new Error('libtensorflow.so: cannot open shared object file') }),
      fake('wasm', 30, events),
      fake('cpu', 10, events),
    ]);
    expect(result.name).toBe('wasm');
    expect(events).toEqual(['check node', 'check wasm', 'check cpu', 'activate node', 'activate wasm']);
    expect(result.candidates.map((c) => c.outcome)).toEqual(['failed', 'chosen', 'not-tried']);
    expect(result.lines).toEqual([
      "mtljs: using backend 'wasm': highest-priority backend that started (priority 30; wasm found); " +
        "passed over: 'node' (priority 50) failed to start: libtensorflow.so: cannot open shared object file",
    ]);
  });

  it('names why each higher candidate was unavailable, and leaves lower ones out of the log', async () => {
    const events: string[] = [];
    const result = await auto([
      fake('cpu', 10, events),
      fake('wasm', 30, events),
      fake('node', 50, events, { available: false, reason: 'cannot load @tensorflow/tfjs-node; install it with npm i @tensorflow/tfjs-node' }),
      fake('webgpu', 40, events, { checkThrows: new Error('navigator.gpu.requestAdapter() rejected') }),
      fake('other', 5, events, { available: false }),
    ]);
    expect(result.name).toBe('wasm');
    expect(result.lines).toEqual([
      "mtljs: using backend 'wasm': highest-priority available backend (priority 30; wasm found); passed over: " +
        "'node' (priority 50) unavailable: cannot load @tensorflow/tfjs-node; install it with npm i @tensorflow/tfjs-node; " +
        "'webgpu' (priority 40) unavailable: availability check failed: navigator.gpu.requestAdapter() rejected",
    ]);
    expect(result.candidates.map((c) => `${c.name}:${c.outcome}`)).toEqual(['wasm:chosen', 'cpu:not-tried', 'node:unavailable', 'webgpu:unavailable', 'other:unavailable']);
  });

  it('keeps registration order between equal priorities', async () => {
    const events: string[] = [];
    expect((await auto([fake('first', 30, events), fake('second', 30, events)])).name).toBe('first');
    expect((await auto([fake('second', 30, events), fake('first', 30, events)])).name).toBe('second');
  });

  it('ignores a priority that is not a finite number, and says so', async () => {
    const events: string[] = [];
    const result = await auto([fake('odd', 30, events, { priority: Number.NaN }), fake('cpu', 10, events)]);
    expect(result.name).toBe('odd');
    expect(result.lines[0]).toContain('(priority 30; odd found (ignored its priority NaN: not a finite number))');
  });

  it('treats a malformed isAvailable() answer as unavailable', async () => {
    const events: string[] = [];
    const broken: Backend = { ...fake('broken', 50, events), isAvailable: async () => undefined as never };
    const result = await auto([broken, fake('cpu', 10, events)]);
    expect(result.name).toBe('cpu');
    expect(result.lines[0]).toContain("'broken' (priority 50) unavailable: isAvailable() returned undefined instead of { available, reason }");
  });

  it('throws BACKEND_UNAVAILABLE listing every candidate when none starts', async () => {
    const events: string[] = [];
    const error = await thrown(() =>
      useBackend('auto', {
        backends: [fake('node', 50, events, { available: false }), fake('wasm', 30, events, { fails: new Error('no .wasm file') })],
        log: silent,
      }),
    );
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toBe(
      "useBackend('auto'): no backend could start: 'wasm' (priority 30) failed to start: no .wasm file; 'node' (priority 50) unavailable: node missing; " +
        'register @mtljs/backend-cpu, which runs everywhere, as the fallback',
    );
    expect(error.details.available).toEqual(['wasm']);
  });

  it('throws BACKEND_UNAVAILABLE when nothing is registered', async () => {
    const error = await thrown(() => useBackend('auto', { registry: createRegistry(), log: silent }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toMatch(/no backend plugin is registered; register @mtljs\/backend-cpu/);
  });

  it('takes the candidates from a registry', async () => {
    const events: string[] = [];
    const registry = createRegistry();
    registry.register(fake('cpu', 10, events));
    registry.register(fake('wasm', 30, events));
    const lines: string[] = [];
    expect((await useBackend('auto', { registry, log: (line) => lines.push(line) })).name).toBe('wasm');
    expect(lines).toHaveLength(1);
  });
});

describe('useBackend(name)', () => {
  it('activates the named backend even when a better one is available, and logs it', async () => {
    const events: string[] = [];
    const lines: string[] = [];
    const choice = await useBackend('cpu', { backends: [fake('wasm', 30, events), fake('cpu', 10, events)], log: (line) => lines.push(line) });
    expect(choice.name).toBe('cpu');
    expect(events).toEqual(['check cpu', 'activate cpu']);
    expect(lines).toEqual(["mtljs: using backend 'cpu': requested by name (priority 10; cpu found)"]);
  });

  it('an unknown name throws UNKNOWN_PLUGIN listing the registered backends', async () => {
    const events: string[] = [];
    const error = await thrown(() => useBackend('webgl', { backends: [fake('wasm', 30, events), fake('cpu', 10, events)], log: silent }));
    expect(error.code).toBe('UNKNOWN_PLUGIN');
    expect(error.message).toBe("no backend plugin named 'webgl' is registered; available: cpu, wasm");
    expect(error.details.available).toEqual(['wasm', 'cpu']);
  });

  it('an unavailable backend throws BACKEND_UNAVAILABLE with its reason and the available alternatives', async () => {
    const events: string[] = [];
    const error = await thrown(() =>
      useBackend('node', {
        backends: [
          fake('cpu', 10, events),
          fake('node', 50, events, { available: false, reason: 'cannot load @tensorflow/tfjs-node' }),
          fake('webgpu', 40, events, { available: false }),
          fake('wasm', 30, events),
        ],
        log: silent,
      }),
    );
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toBe(
      "backend 'node' is not available here: cannot load @tensorflow/tfjs-node; available instead: 'wasm' (priority 30), 'cpu' (priority 10) (or useBackend('auto'))",
    );
    expect(error.details).toMatchObject({ plugin: 'node', reason: 'cannot load @tensorflow/tfjs-node', available: ['wasm', 'cpu'] });
    expect(events.filter((e) => e.startsWith('activate'))).toEqual([]);
  });

  it('says so when nothing else is available either', async () => {
    const events: string[] = [];
    const error = await thrown(() => useBackend('node', { backends: [fake('node', 50, events, { available: false })], log: silent }));
    expect(error.message).toBe("backend 'node' is not available here: node missing; available instead: (none)");
  });

  it('a backend that fails to start throws BACKEND_UNAVAILABLE with the cause and the alternatives', async () => {
    const events: string[] = [];
    const cause = new Error('device lost');
    const error = await thrown(() => useBackend('webgpu', { backends: [fake('webgpu', 40, events, { fails: cause }), fake('cpu', 10, events)], log: silent }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toBe("backend 'webgpu' failed to start: device lost; available instead: 'cpu' (priority 10)");
    expect(error.cause).toBe(cause);

    // A plugin's own MtlError keeps its words and details.
    const own = new MtlError('BACKEND_UNAVAILABLE', "backend 'wasm': cannot find tfjs-backend-wasm.wasm", { plugin: 'wasm', file: 'tfjs-backend-wasm.wasm' });
    const wrapped = await thrown(() => useBackend('wasm', { backends: [fake('wasm', 30, events, { fails: own }), fake('cpu', 10, events)], log: silent }));
    expect(wrapped.message).toBe("backend 'wasm': cannot find tfjs-backend-wasm.wasm; available instead: 'cpu' (priority 10)");
    expect(wrapped.details).toMatchObject({ plugin: 'wasm', file: 'tfjs-backend-wasm.wasm', available: ['cpu'] });
  });
});
