import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMtlError, useBackend } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { wasmBackend } from '@mtljs/backend-wasm';
import { DEFAULT_NOISE, EFFECTS, REACTION_CLASSES } from './arrhenius';
import { runComparison } from './experiment';
import { parseOptions, USAGE } from './options';
import { formatTable } from './table';

// Single-task networks vs hard sharing + EW / uncertainty weighting on generated Arrhenius data,
// in one or more Ea-labelling regimes; prints the table and writes results.json.

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), fileURLToPath(new URL('../results.json', import.meta.url)));
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const backend = await useBackend('auto', { backends: [cpuBackend(), wasmBackend()] });
  console.log(
    `kinetics: ${options.seeds.length} seed(s) [${options.seeds.join(', ')}], ${options.trainSize} training / ${options.testSize} test reactions, ` +
      `Ea labelled on ${options.labelledEa.map((f) => `${100 * f}%`).join(' / ')} of the training reactions, ${options.epochs} epochs`,
  );
  const { out, help: _help, ...comparison } = options;
  const result = await runComparison({ ...comparison, log: (line) => console.log(`  ${line}`) });
  console.log(
    `\nTest set, mean ± std over ${options.seeds.length} seed(s). RMSE/MAE of ln k in ln units, of Ea in kJ/mol. Δm% averages the relative ` +
      `change of RMSE and MAE over both tasks (positive = better than the single-task pair; wins = seeds with Δm > 0):\n`,
  );
  console.log(formatTable(result, options.trainSize));
  console.log(`\n${result.steps} optimiser steps per model; ${result.seconds.toFixed(1)} s in all on backend '${backend.name}'.`);
  writeFileSync(
    out,
    JSON.stringify(
      {
        command: `node dist/main.js ${process.argv.slice(2).join(' ')}`.trim(),
        backend: backend.name,
        options: comparison,
        generator: { classes: REACTION_CLASSES, effects: EFFECTS, noise: DEFAULT_NOISE },
        ...result,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`results written to ${out}`);
}

main().catch((error: unknown) => {
  console.error(isMtlError(error) ? `kinetics: ${error.message}` : error);
  process.exitCode = 1;
});
