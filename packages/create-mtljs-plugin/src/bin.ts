#!/usr/bin/env node
import { relative } from 'node:path';
import { scaffoldPlugin } from './generate';
import { parseArguments, ScaffoldError, USAGE } from './options';
import { MTLJS_VERSION } from './version';

function main(argv: readonly string[]): number {
  try {
    const parsed = parseArguments(argv, MTLJS_VERSION);
    if (parsed.help) {
      console.log(USAGE.replace('%VERSION%', MTLJS_VERSION));
      return 0;
    }
    const result = scaffoldPlugin(parsed);
    const where = relative(process.cwd(), result.directory) || '.';
    console.log(`Created ${result.packageName} (${parsed.kind} plugin '${result.name}', factory ${result.factory}()) in ${where}`);
    console.log(`\nNext:\n  cd ${where}\n  npm install\n  npm run build && npm test\n\nThen fill in README.md's Semantics section before publishing.`);
    return 0;
  } catch (error) {
    if (error instanceof ScaffoldError) {
      console.error(`create-mtljs-plugin: ${error.message}`);
      return error.exitCode;
    }
    throw error;
  }
}

process.exitCode = main(process.argv.slice(2));
