import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { API_VERSION, checkOptions, createRegistry, defaultRegistry, equalWeighting, isMtlError, MtlError, register, staticWeighting } from '../src/index';

describe('registry', () => {
  it('returns what was registered, by kind and name', () => {
    const registry = createRegistry();
    const ew = registry.register(equalWeighting());
    expect(registry.get('weighting', 'ew')).toBe(ew);
    expect(registry.list('weighting')).toEqual(['ew']);
    expect(registry.list('sharing')).toEqual([]);
  });

  it('an unknown name throws UNKNOWN_PLUGIN listing what is available', () => {
    const registry = createRegistry();
    registry.register(equalWeighting());
    registry.register(staticWeighting({ weights: {} }));
    expect(() => registry.get('weighting', 'uncertainty')).toThrowError("no weighting plugin named 'uncertainty' is registered; available: ew, static");
    expect(() => registry.get('sharing', 'mmoe')).toThrowError(/available: \(none\)/);
    try {
      registry.get('weighting', 'x');
    } catch (error) {
      expect(isMtlError(error, 'UNKNOWN_PLUGIN')).toBe(true);
      expect((error as MtlError).details.available).toEqual(['ew', 'static']);
    }
  });

  it('registering a name twice throws unless replacing', () => {
    const registry = createRegistry();
    registry.register(equalWeighting());
    expect(() => registry.register(equalWeighting())).toThrowError(/already registered; pass \{ replace: true \}/);
    const replacement = equalWeighting({ reduction: 'mean' });
    registry.register(replacement, { replace: true });
    expect(registry.get('weighting', 'ew')).toBe(replacement);
  });

  it('refuses an incompatible apiVersion, saying which it accepts', () => {
    const registry = createRegistry();
    const future = { ...equalWeighting(), apiVersion: API_VERSION + 1 };
    expect(() => registry.register(future)).toThrowError(`weighting plugin 'ew' declares apiVersion ${API_VERSION + 1}; this @mtljs/core accepts ${API_VERSION}`);
    expect(registry.has('weighting', 'ew')).toBe(false);
  });

  it('refuses malformed plugins with BAD_CONFIG', () => {
    expect(() => createRegistry().register({ kind: 'weighting', name: '', apiVersion: 1 })).toThrowError(/`name` must be a non-empty string/);
  });

  it('the default registry is shared with a second copy of core (the built CJS file)', () => {
    // src (loaded by vitest) and dist/index.cjs are two separate module instances, as two
    // installed copies of @mtljs/core would be.
    const otherCopy = createRequire(import.meta.url)('../dist/index.cjs') as typeof import('../src/index');
    expect(otherCopy.defaultRegistry).not.toBe(defaultRegistry);
    register({ kind: 'dataset', name: 'shared-check', apiVersion: API_VERSION });
    expect(otherCopy.defaultRegistry().list('dataset')).toContain('shared-check');
    expect(otherCopy.defaultRegistry()).toBe(defaultRegistry());
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('mtljs.registry.v1')]).toBe(defaultRegistry());
    // errors from the other copy are recognised too
    expect(isMtlError(new otherCopy.MtlError('BAD_DATA', 'x'), 'BAD_DATA')).toBe(true);
    defaultRegistry().unregister('dataset', 'shared-check');
    expect(() => defaultRegistry().unregister('dataset', 'shared-check')).toThrowError(/not registered/);
  });

  it('isMtlError recognises errors by marker, not class identity', () => {
    const error = new MtlError('BAD_DATA', 'x');
    const lookalike = Object.assign(new Error('y'), { code: 'BAD_DATA', [Symbol.for('mtljs.error')]: true });
    expect(isMtlError(error)).toBe(true);
    expect(isMtlError(lookalike, 'BAD_DATA')).toBe(true);
    expect(isMtlError(new Error('z'))).toBe(false);
    expect(isMtlError(error, 'BAD_CONFIG')).toBe(false);
  });

  it('resolve configures a registered plugin by name and options; unknown options are named', () => {
    const registry = createRegistry();
    registry.register(equalWeighting());
    const mean = registry.resolve('weighting', { name: 'ew', options: { reduction: 'mean' } });
    expect(mean).not.toBe(registry.get('weighting', 'ew'));
    expect(registry.resolve('weighting', 'ew')).toBe(registry.get('weighting', 'ew'));
    try {
      registry.resolve('weighting', { name: 'ew', options: { reductoin: 'mean' } });
      expect.unreachable();
    } catch (error) {
      expect(isMtlError(error, 'BAD_CONFIG')).toBe(true);
      expect((error as Error).message).toBe("weighting 'ew': unknown option 'reductoin'; it accepts: reduction");
      expect((error as MtlError).details.option).toBe('reductoin');
    }
    registry.register({ kind: 'weighting', name: 'plain', apiVersion: API_VERSION } as never);
    expect(() => registry.resolve('weighting', { name: 'plain', options: { x: 1 } })).toThrowError("weighting 'plain' takes no options; got 'x'");
  });

  it('checkOptions refuses non-objects and lists every unknown option', () => {
    expect(() => checkOptions('weighting x', [] as never, ['a'])).toThrowError('weighting x: options must be an object, got an array');
    expect(() => checkOptions('weighting x', { b: 1, c: 2 }, ['a'])).toThrowError("weighting x: unknown options 'b', 'c'; it accepts: a");
    expect(() => checkOptions('weighting x', { a: 1 }, ['a'])).not.toThrow();
  });
});

describe('dataAdapter', () => {
  it('builds a data plugin whose open refuses non-object options with BAD_CONFIG naming the adapter', async () => {
    const { dataAdapter, fromArrays } = await import('../src/index');
    const seen: unknown[] = [];
    const adapter = dataAdapter('rows', '{ batchSize }', (input, options: { batchSize: number }) => {
      seen.push(input, options);
      return fromArrays({ inputs: [[1], [2]], targets: { y: [1, 2] } }, { batchSize: options.batchSize });
    });
    expect([adapter.kind, adapter.name]).toEqual(['data', 'rows']);
    expect(adapter.open('file.rows', { batchSize: 2 })).toBeDefined();
    expect(seen).toEqual(['file.rows', { batchSize: 2 }]);
    for (const bad of [null, 3, 'x', [1]]) {
      expect(() => adapter.open('file.rows', bad as never)).toThrow("data adapter 'rows': options must be an object ({ batchSize })");
    }
  });
});
