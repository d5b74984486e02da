import * as tf from '@tensorflow/tfjs-core';

/**
 * The first reason `value` would not come back unchanged from JSON.parse(JSON.stringify(value)),
 * or null. Walking the value names the culprit ("state.history is a Map"), which a bare
 * round-trip comparison cannot.
 */
export function jsonProblem(value: unknown, path = 'value', ancestors: Set<object> = new Set()): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path} is ${value}, which JSON writes as null`;
    case 'undefined':
      return `${path} is undefined, which JSON drops (use null)`;
    case 'bigint':
      return `${path} is a bigint, which JSON cannot write`;
    case 'symbol':
      return `${path} is a symbol, which JSON drops`;
    case 'function':
      return `${path} is a function, which JSON drops`;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) return `${path} refers back to one of its parents (a cycle)`;
  if (object instanceof tf.Tensor) return `${path} is a tf.Tensor; keep plain numbers (tensor.arraySync()) in state`;
  if (ArrayBuffer.isView(object)) {
    return `${path} is a ${object.constructor.name}, which JSON writes as an object of indices; use number[]`;
  }
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        if (!(i in object)) return `${path}[${i}] is a hole in a sparse array, which JSON writes as null`;
        const problem = jsonProblem(object[i], `${path}[${i}]`, ancestors);
        if (problem) return problem;
      }
      return null;
    }
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name || 'class instance';
      return `${path} is a ${name}, which JSON does not preserve; use plain objects, arrays and numbers`;
    }
    if (Object.getOwnPropertySymbols(object).length) return `${path} has symbol keys, which JSON drops`;
    for (const [key, item] of Object.entries(object)) {
      const problem = jsonProblem(item, `${path}.${key}`, ancestors);
      if (problem) return problem;
    }
    return null;
  } finally {
    ancestors.delete(object);
  }
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) => Object.prototype.hasOwnProperty.call(b, key) && jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/**
 * Null when `value` survives a JSON round trip (JSON.parse(JSON.stringify(value)) deep-equals
 * it), else why not.
 */
export function jsonRoundTripProblem(value: unknown, path: string): string | null {
  const problem = jsonProblem(value, path);
  if (problem) return problem;
  let copy: unknown;
  try {
    copy = JSON.parse(JSON.stringify(value));
  } catch (error) {
    return `${path} cannot be written as JSON: ${error instanceof Error ? error.message : String(error)}`;
  }
  return jsonEqual(copy, value) ? null : `${path} changes in a JSON round trip`;
}
