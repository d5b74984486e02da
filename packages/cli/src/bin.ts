#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs-core';
import { runCli } from './cli';

// Production mode only silences tfjs's console notes (e.g. the cpu backend's advice to install
// tfjs-node on its first use), which would break the command's own output.
tf.env().set('PROD', true);

// The first Ctrl-C stops training after the current step (the run log ends 'interrupted' and the
// command exits 130); a second one exits at once.
const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  controller.abort();
});

void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal }).then((code) => {
  // Exit explicitly: a backend probed on the way (WebGPU through Dawn) may keep handles open.
  process.stdout.write('', () => process.exit(code));
});
