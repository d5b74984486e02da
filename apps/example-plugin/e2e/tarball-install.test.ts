import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/e2e.mjs', import.meta.url));

// Minutes: it packs ~40 packages and runs npm install; `npm run test:e2e` only (see README).
it('the app trains with the plugin installed from tarballs, by script and by `mtl train`', () => {
  const result = spawnSync(process.execPath, [script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const output = `${result.stdout}${result.stderr}`;
  expect(result.status, output).toBe(0);
  expect(output).toMatch(/plugin loaded from file:\/\/\S+\/node_modules\/mtljs-weighting-sign-agreement\//);
  expect(output.match(/^task \S+: validation loss \d/gm)).toHaveLength(2);
  expect(output).toMatch(/mtl train loaded the plugin by package name; run log: weighting 'sign-agreement'/);
});
