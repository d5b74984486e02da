import { fileURLToPath } from 'node:url';
import { defaultRegistry, isMtlError } from 'mtljs';
import { runBenchmark } from './benchmark';
import { parseOptions, USAGE } from './options';

// `node dist/main.js --dataset=multi-mnist`: every registered weighting with hard sharing, plus
// single-task baselines, the same seeds for all; see README.md. Importing 'mtljs' registers the
// standard plugins (weightings, sharing strategies, backends) in the default registry.

const appFolder = fileURLToPath(new URL('..', import.meta.url));

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv, appFolder);
  } catch (error) {
    if (!isMtlError(error)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const outcome = await runBenchmark(options, defaultRegistry(), (line) => console.log(line), argv);
  const failed = outcome.results.filter((r) => r.status === 'failed');
  console.log(`\n${outcome.markdown}\nwrote ${outcome.files.json}, ${outcome.files.markdown}, ${outcome.files.report}${outcome.files.readme ? ` and the table in ${outcome.files.readme}` : ''}`);
  if (failed.length > 0) {
    console.error(`${failed.length} run(s) failed: ${failed.map((r) => `${r.id} seed ${r.seed} (${r.error})`).join('; ')}`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(isMtlError(error) ? `error: ${error.code}: ${error.message}` : error);
    process.exitCode = isMtlError(error) && (error.code === 'BAD_CONFIG' || error.code === 'UNKNOWN_PLUGIN') ? 2 : 1;
  },
);
