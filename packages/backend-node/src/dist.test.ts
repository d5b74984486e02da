import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The BUILT package in plain Node, outside vitest's module transform: the dynamic import of the
// optional peer must work from both builds, and a missing binding must come back as a reason.
const packageDir = fileURLToPath(new URL('..', import.meta.url));

function node(args: string[]): { status: { available: boolean; reason: string }; chosen: string } {
  const output = execFileSync(process.execPath, args, { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return JSON.parse(output.trim().split('\n').pop()!);
}

const check = `
  const status = await backendNode.nodeBackend().isAvailable();
  const choice = await core.useBackend('auto', { backends: [backendNode.nodeBackend(), cpu.cpuBackend()], log: () => {} });
  console.log(JSON.stringify({ status, chosen: choice.name }));
`;

describe('the built package in plain Node', () => {
  it('has been built', () => {
    expect(existsSync(`${packageDir}/dist/index.cjs`) && existsSync(`${packageDir}/dist/index.js`), 'run `npx tsup` in packages/backend-node first').toBe(true);
  });

  for (const format of ['CommonJS', 'ESM'] as const) {
    it(`loads the binding or says why not, through ${format === 'CommonJS' ? 'require()' : 'import()'}`, () => {
      const result =
        format === 'CommonJS'
          ? node([
              '-e',
              `const backendNode = require('@mtljs/backend-node'); const core = require('@mtljs/core'); const cpu = require('@mtljs/backend-cpu');
               (async () => {${check}})().catch((error) => { console.error(error); process.exit(1); });`,
            ])
          : node([
              '--input-type=module',
              '-e',
              `const backendNode = await import('@mtljs/backend-node'); const core = await import('@mtljs/core'); const cpu = await import('@mtljs/backend-cpu');${check}`,
            ]);
      if (result.status.available) {
        expect(result.status.reason).toMatch(/^@tensorflow\/tfjs-node loaded/);
        expect(result.chosen).toBe('node');
      } else {
        expect(result.status.reason).toMatch(/^cannot load @tensorflow\/tfjs-node: .*(npm rebuild|npm i) @tensorflow\/tfjs-node/);
        expect(result.chosen).toBe('cpu');
      }
    });
  }
});
