import * as tf from '@tensorflow/tfjs-core';
import type { Backend } from './contracts';
import { isMtlError, MtlError } from './errors';
import { defaultRegistry, type Registry } from './registry';

/**
 * The standard priorities of `useBackend('auto')`, in one place; higher wins. Steps of ten leave
 * room for a third-party backend between two standard ones.
 *
 * - `native` (50): tfjs-node / tfjs-node-gpu, TensorFlow's C library (`@mtljs/backend-node`);
 * - `webgpuHardware` (40): WebGPU on a GPU;
 * - `wasm` (30): XNNPACK kernels in WebAssembly (`@mtljs/backend-wasm`);
 * - `webgpuSoftware` (20): WebGPU on a software adapter (SwiftShader, lavapipe, WARP), which runs
 *   a training step several times slower than wasm on the same CPU, so it ranks below it;
 * - `cpu` (10): plain JavaScript kernels (`@mtljs/backend-cpu`), the fallback.
 *
 * A plugin whose speed depends on what it finds at run time (WebGPU's adapter) declares the
 * higher value as its `priority` and returns the one that applies from `isAvailable()`.
 */
export const BACKEND_PRIORITY = {
  /** tfjs-node / tfjs-node-gpu (`@mtljs/backend-node`). */
  native: 50,
  /** WebGPU on a hardware adapter. */
  webgpuHardware: 40,
  /** tfjs-backend-wasm (`@mtljs/backend-wasm`). */
  wasm: 30,
  /** WebGPU on a software adapter (SwiftShader, lavapipe, WARP). */
  webgpuSoftware: 20,
  /** Plain JavaScript kernels (`@mtljs/backend-cpu`), the fallback. */
  cpu: 10,
} as const;

/** Options of {@link useBackend}. */
export interface UseBackendOptions {
  /** Candidates; default: the backends registered in `registry`. */
  backends?: readonly Backend[];
  /** Registry whose backend plugins are the candidates when `backends` is not given (default: `defaultRegistry()`). */
  registry?: Registry;
  /** Where the choice is reported; default console.info. Pass `() => {}` to silence it. */
  log?: (message: string) => void;
}

/** What `useBackend` found out about one candidate. */
export interface BackendCandidate {
  /** The backend plugin's name. */
  name: string;
  /** The plugin's static `priority`. */
  declaredPriority: number;
  /** The priority it was ranked by: the one `isAvailable()` returned, else the declared one. */
  priority: number;
  /** What `isAvailable()` answered; false also when it threw or returned a malformed answer. */
  available: boolean;
  /** `isAvailable()`'s reason, or why the check itself failed. */
  reason: string;
  /**
   * 'chosen'; 'unavailable'; 'failed' (available, but `activate()` threw: `error` says what);
   * 'not-tried' (available, but ranked below the chosen one).
   */
  outcome: 'chosen' | 'unavailable' | 'failed' | 'not-tried';
  /** Why `activate()` failed (outcome 'failed' only). */
  error?: string;
}

/** What {@link useBackend} returns: the backend now active, why, and what it found about each candidate. */
export interface BackendChoice {
  /** Name of the backend plugin activated. */
  name: string;
  /** Why it was chosen, and why each higher-ranked candidate was not. */
  reason: string;
  /**
   * Every candidate, in ranking order (unavailable ones last, by declared priority); for a backend
   * requested by name, that one only.
   */
  candidates: BackendCandidate[];
}

/** `isAvailable()` of one candidate; a throw or a malformed answer counts as unavailable. */
async function check(backend: Backend): Promise<BackendCandidate> {
  const declaredPriority = backend.priority;
  const candidate: BackendCandidate = { name: backend.name, declaredPriority, priority: declaredPriority, available: false, reason: '', outcome: 'unavailable' };
  let status: Awaited<ReturnType<Backend['isAvailable']>>;
  try {
    status = await backend.isAvailable();
  } catch (error) {
    candidate.reason = `availability check failed: ${messageOf(error)}`;
    return candidate;
  }
  if (typeof status !== 'object' || status === null || typeof status.available !== 'boolean') {
    candidate.reason = `isAvailable() returned ${JSON.stringify(status)} instead of { available, reason }`;
    return candidate;
  }
  candidate.available = status.available;
  candidate.outcome = status.available ? 'not-tried' : 'unavailable';
  candidate.reason = String(status.reason);
  if (status.priority !== undefined) {
    if (typeof status.priority === 'number' && Number.isFinite(status.priority)) candidate.priority = status.priority;
    else candidate.reason += ` (ignored its priority ${String(status.priority)}: not a finite number)`;
  }
  return candidate;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function priorityLabel(candidate: BackendCandidate): string {
  return candidate.priority === candidate.declaredPriority ? `priority ${candidate.priority}` : `priority ${candidate.priority}, declared ${candidate.declaredPriority}`;
}

/** Why `candidate` was not the one chosen, for the log. */
function passedOver(candidate: BackendCandidate): string {
  const label = `'${candidate.name}' (${priorityLabel(candidate)})`;
  if (candidate.outcome === 'failed') return `${label} failed to start: ${candidate.error}`;
  if (candidate.outcome === 'unavailable') return `${label} unavailable: ${candidate.reason}`;
  return `${label} ranks below it: ${candidate.reason}`;
}

/** The candidates `available` lists in an error: the available ones, best first. */
function availableNames(candidates: readonly BackendCandidate[]): string {
  const names = candidates.filter((c) => c.available).map((c) => `'${c.name}' (${priorityLabel(c)})`);
  return names.length ? names.join(', ') : '(none)';
}

function byRank(candidates: BackendCandidate[]): BackendCandidate[] {
  // Available first; then by effective priority; Array.prototype.sort is stable, so ties keep the
  // order of the candidates (registration order), as tfjs's engine does.
  return candidates.sort((a, b) => Number(b.available) - Number(a.available) || b.priority - a.priority);
}

/**
 * Activates a backend.
 *
 * `'auto'` first asks every candidate whether it is available (in declared-priority order, one at
 * a time, since a check may load a native binding or request a GPU adapter). It ranks the
 * available ones by their effective priority, the `priority` their `isAvailable()` returned or
 * else their declared one (see {@link BACKEND_PRIORITY}), and activates them in that order until
 * one starts, as tfjs's engine falls back when a backend fails to initialise. The log line names
 * the chosen backend, its priority and reason, and why each candidate ranked or declared at or above it
 * was passed over (unavailable, failed to start, or ranked below at run time).
 *
 * A name activates that backend or throws: UNKNOWN_PLUGIN when no candidate has the name,
 * BACKEND_UNAVAILABLE when it is unavailable or fails to start; both messages list the backends
 * that are available instead.
 *
 * @example
 * ```ts
 * import { register, useBackend } from '@mtljs/core';
 * import { cpuBackend } from '@mtljs/backend-cpu';
 * import { wasmBackend } from '@mtljs/backend-wasm';
 *
 * register(cpuBackend());
 * register(wasmBackend());
 * const choice = await useBackend('auto'); // wasm when it starts, else cpu
 * console.log(choice.name, choice.reason);
 * ```
 */
export async function useBackend(name: string, options: UseBackendOptions = {}): Promise<BackendChoice> {
  const log = options.log ?? ((message: string) => console.info(message));
  const backends = [...(options.backends ?? (options.registry ?? defaultRegistry()).plugins('backend'))];
  if (name !== 'auto') return useNamed(name, backends, log);
  if (backends.length === 0) {
    throw new MtlError('BACKEND_UNAVAILABLE', "useBackend('auto'): no backend plugin is registered; register @mtljs/backend-cpu or another backend first");
  }
  const declaredOrder = [...backends].sort((a, b) => b.priority - a.priority);
  const checked = new Map<Backend, BackendCandidate>();
  for (const backend of declaredOrder) checked.set(backend, await check(backend));
  // Rank in registration order for ties, not in the order the checks ran.
  const ranked = byRank(backends.map((backend) => checked.get(backend)!));
  const pluginOf = new Map(backends.map((backend) => [checked.get(backend)!, backend]));

  for (const candidate of ranked) {
    if (!candidate.available) break;
    try {
      await pluginOf.get(candidate)!.activate();
    } catch (error) {
      candidate.outcome = 'failed';
      candidate.error = messageOf(error);
      continue;
    }
    candidate.outcome = 'chosen';
    const others = ranked.filter((c) => c !== candidate && Math.max(c.priority, c.declaredPriority) >= candidate.priority);
    const failedAbove = ranked.some((c) => c.outcome === 'failed');
    const reason =
      `${failedAbove ? 'highest-priority backend that started' : 'highest-priority available backend'} (${priorityLabel(candidate)}; ${candidate.reason})` +
      (others.length ? `; passed over: ${others.map(passedOver).join('; ')}` : '');
    log(`mtljs: using backend '${candidate.name}': ${reason}`);
    return { name: candidate.name, reason, candidates: ranked };
  }
  throw new MtlError(
    'BACKEND_UNAVAILABLE',
    `useBackend('auto'): no backend could start: ${ranked.map(passedOver).join('; ')}; register @mtljs/backend-cpu, which runs everywhere, as the fallback`,
    { available: ranked.filter((c) => c.available).map((c) => c.name), candidates: ranked },
  );
}

async function useNamed(name: string, backends: readonly Backend[], log: (message: string) => void): Promise<BackendChoice> {
  const backend = backends.find((b) => b.name === name);
  if (!backend) {
    throw new MtlError('UNKNOWN_PLUGIN', `no backend plugin named '${name}' is registered; available: ${backends.map((b) => b.name).sort().join(', ') || '(none)'}`, {
      plugin: name,
      available: backends.map((b) => b.name),
    });
  }
  const requested = await check(backend);
  /** The other candidates, checked only when the requested one cannot be used, to say what can. */
  const alternatives = async (): Promise<BackendCandidate[]> => {
    const others: BackendCandidate[] = [];
    for (const other of backends) if (other !== backend) others.push(await check(other));
    return byRank(others);
  };
  if (!requested.available) {
    const others = await alternatives();
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `backend '${name}' is not available here: ${requested.reason}; available instead: ${availableNames(others)}${others.some((c) => c.available) ? " (or useBackend('auto'))" : ''}`,
      { plugin: name, reason: requested.reason, available: others.filter((c) => c.available).map((c) => c.name) },
    );
  }
  try {
    await backend.activate();
  } catch (error) {
    const others = await alternatives();
    // A plugin's own MtlError already says which backend failed and why; keep its words.
    const message = isMtlError(error) ? error.message : `backend '${name}' failed to start: ${messageOf(error)}`;
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `${message}; available instead: ${availableNames(others)}`,
      { ...(isMtlError(error) ? error.details : {}), plugin: name, available: others.filter((c) => c.available).map((c) => c.name) },
      { cause: error },
    );
  }
  requested.outcome = 'chosen';
  const reason = `requested by name (${priorityLabel(requested)}; ${requested.reason})`;
  log(`mtljs: using backend '${name}': ${reason}`);
  return { name, reason, candidates: [requested] };
}

/** The tfjs backend now in use. */
export function currentBackend(): string {
  return tf.getBackend();
}

/**
 * Throws a BACKEND_UNAVAILABLE MtlError, instead of tfjs's bare "No backend found in registry",
 * when no tfjs backend has been registered at all.
 */
export function assertBackend(where: string): void {
  const engine = tf.engine() as unknown as { registryFactory: Record<string, unknown>; backendName: string | null };
  if (Object.keys(engine.registryFactory).length === 0) {
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `${where}: no tfjs backend is registered; first run \`register(cpuBackend()); register(wasmBackend()); await useBackend('auto')\` (packages @mtljs/backend-cpu, @mtljs/backend-wasm) or import a tfjs backend`,
    );
  }
}

/**
 * `tf.setBackend(name)` for backend plugins: a failure, thrown or reported as `false`, becomes a
 * BACKEND_UNAVAILABLE MtlError; `hint` is appended to say where to look.
 */
export async function setTfjsBackend(name: string, hint?: string): Promise<void> {
  let started: boolean;
  try {
    started = await tf.setBackend(name);
  } catch (error) {
    throw new MtlError('BACKEND_UNAVAILABLE', `backend '${name}' failed to start: ${(error as Error).message}`, { plugin: name }, { cause: error });
  }
  if (!started) {
    throw new MtlError(
      'BACKEND_UNAVAILABLE',
      `backend '${name}' failed to start (tf.setBackend('${name}') returned false; tfjs logged the cause)${hint ? `; ${hint}` : ''}`,
      { plugin: name },
    );
  }
}
