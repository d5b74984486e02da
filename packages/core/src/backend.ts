import * as tf from '@tensorflow/tfjs-core';
import type { Backend } from './contracts';
import { MtlError } from './errors';
import { defaultRegistry, type Registry } from './registry';

export interface UseBackendOptions {
  /** Candidates; default: the backends registered in `registry`. */
  backends?: readonly Backend[];
  registry?: Registry;
  /** Where the choice is reported; default console.info. Pass `() => {}` to silence it. */
  log?: (message: string) => void;
}

export interface BackendChoice {
  name: string;
  /** Why it was chosen, and why each higher-priority candidate was not. */
  reason: string;
}

/**
 * Activates a backend. `'auto'` tries the candidates from the highest priority down (as tfjs's
 * engine does) and takes the first that is available and starts; the log line says which was
 * chosen and why the ones above it were passed over. A name activates that backend or throws.
 */
export async function useBackend(name: string, options: UseBackendOptions = {}): Promise<BackendChoice> {
  const log = options.log ?? ((message: string) => console.info(message));
  const candidates = [...(options.backends ?? (options.registry ?? defaultRegistry()).plugins('backend'))];
  if (name !== 'auto') {
    const backend = candidates.find((b) => b.name === name);
    if (!backend) {
      throw new MtlError('UNKNOWN_PLUGIN', `no backend plugin named '${name}' is registered; available: ${candidates.map((b) => b.name).sort().join(', ') || '(none)'}`, {
        plugin: name,
        available: candidates.map((b) => b.name),
      });
    }
    const { available, reason } = await backend.isAvailable();
    if (!available) throw new MtlError('BACKEND_UNAVAILABLE', `backend '${name}' is not available here: ${reason}`, { plugin: name });
    await backend.activate();
    const choice = { name, reason: `requested by name (${reason})` };
    log(`mtljs: using backend '${name}': ${choice.reason}`);
    return choice;
  }
  if (candidates.length === 0) {
    throw new MtlError('BACKEND_UNAVAILABLE', "useBackend('auto'): no backend plugin is registered; register @mtljs/backend-cpu or another backend first");
  }
  candidates.sort((a, b) => b.priority - a.priority);
  const passed: string[] = [];
  for (const backend of candidates) {
    let status: { available: boolean; reason: string };
    try {
      status = await backend.isAvailable();
    } catch (error) {
      status = { available: false, reason: `availability check failed: ${(error as Error).message}` };
    }
    if (!status.available) {
      passed.push(`'${backend.name}' (priority ${backend.priority}) unavailable: ${status.reason}`);
      continue;
    }
    try {
      await backend.activate();
    } catch (error) {
      passed.push(`'${backend.name}' (priority ${backend.priority}) failed to start: ${(error as Error).message}`);
      continue;
    }
    const reason =
      `highest-priority available backend (priority ${backend.priority}; ${status.reason})` + (passed.length ? `; passed over: ${passed.join('; ')}` : '');
    log(`mtljs: using backend '${backend.name}': ${reason}`);
    return { name: backend.name, reason };
  }
  throw new MtlError('BACKEND_UNAVAILABLE', `useBackend('auto'): no backend could start: ${passed.join('; ')}`, {
    available: candidates.map((b) => b.name),
  });
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
