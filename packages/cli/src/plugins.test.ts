import { API_VERSION, createRegistry, isMtlError } from '@mtljs/core';
import { describe, expect, it } from 'vitest';
import { fromRaw } from './config';
import { checkConfigPlugins, pluginsOfModule } from './plugins';

const plugin = (name: string) => ({ kind: 'weighting', name, apiVersion: API_VERSION });

describe('pluginsOfModule', () => {
  it('takes a plugins array first (objects or factories)', () => {
    const found = pluginsOfModule({ plugins: [plugin('a'), () => plugin('b')], default: plugin('ignored') });
    expect(found.map((p) => p.name)).toEqual(['a', 'b']);
  });

  it('else a default plugin, factory or array', () => {
    expect(pluginsOfModule({ default: plugin('a') }).map((p) => p.name)).toEqual(['a']);
    expect(pluginsOfModule({ default: () => plugin('b') }).map((p) => p.name)).toEqual(['b']);
    expect(pluginsOfModule({ default: { myFactory: () => plugin('cjs') } }).map((p) => p.name)).toEqual(['cjs']);
  });

  it('else every named factory taking no arguments; factories that need arguments or throw are skipped', () => {
    const needsOptions = (options: { weights: number[] }) => ({ ...plugin('static'), weights: options.weights });
    const throws = () => {
      throw new Error('needs options');
    };
    const found = pluginsOfModule({ first: () => plugin('x'), second: () => plugin('y'), needsOptions, throws, VERSION: 3 });
    expect(found.map((p) => p.name)).toEqual(['x', 'y']);
  });
});

describe('checkConfigPlugins', () => {
  const registry = createRegistry();
  registry.register({ kind: 'sharing', name: 'hard', apiVersion: API_VERSION, build: () => undefined } as never);
  registry.register({ kind: 'weighting', name: 'pcgrad', apiVersion: API_VERSION, level: 'gramian', sites: ['shared'], init: () => ({}), weigh: () => undefined } as never);
  registry.register({ kind: 'dataset', name: 'synthetic', apiVersion: API_VERSION, load: () => undefined } as never);
  const base = { data: { dataset: 'synthetic' }, model: { sharing: 'hard', encoder: { type: 'mlp', units: [4] } }, weighting: 'pcgrad', epochs: 1 };
  const check = (raw: object) => checkConfigPlugins(fromRaw(raw, { label: 'c.json', dir: '/' }), registry);

  it('passes registered names and reports unknown ones as UNKNOWN_PLUGIN with the field and the available names', () => {
    expect(() => check(base)).not.toThrow();
    const cases: [object, string][] = [
      [{ ...base, weighting: 'pcgard' }, "c.json: weighting: unknown weighting 'pcgard' (did you mean 'pcgrad'?); available: pcgrad"],
      [{ ...base, model: { ...base.model, sharing: 'soft' } }, "c.json: model.sharing: unknown sharing strategy 'soft'; available: hard"],
      [{ ...base, data: { dataset: 'mnist' } }, "c.json: data.dataset: unknown dataset 'mnist'; available: synthetic"],
      [{ ...base, data: { adapter: 'csv', train: 'x.csv' } }, "c.json: data.adapter: unknown data adapter 'csv'; available: (none)"],
      [{ ...base, backend: 'wasm' }, "c.json: backend: unknown backend 'wasm'; available: (none)"],
    ];
    for (const [raw, message] of cases) {
      let error: unknown;
      try {
        check(raw);
      } catch (caught) {
        error = caught;
      }
      expect(isMtlError(error, 'UNKNOWN_PLUGIN')).toBe(true);
      expect((error as Error).message).toBe(message);
    }
  });

  it('refuses options for a plugin that takes none, naming the field', () => {
    expect(() => check({ ...base, weighting: { name: 'pcgrad', options: { alpha: 1 } } })).toThrow("c.json: weighting.options: weighting 'pcgrad' takes no options; got 'alpha'");
  });
});
