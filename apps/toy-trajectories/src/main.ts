import { writeFileSync } from 'node:fs';
import { equalWeighting, Trainer, useBackend, type Weighting } from '@mtljs/core';
import { cpuBackend } from '@mtljs/backend-cpu';
import { TOY_STARTS, toyGradients, toyObjectives, toyProblem, twoGradientMinNorm } from '@mtljs/testkit';
import { cagrad } from '@mtljs/weighting-cagrad';
import { famo } from '@mtljs/weighting-famo';
import { mgda } from '@mtljs/weighting-mgda';
import { nashMtl } from '@mtljs/weighting-nash-mtl';
import { pcgrad } from '@mtljs/weighting-pcgrad';
import { renderSvg, type Trajectory } from './svg';

// Trains each method from the CAGrad paper's three starts on its two-objective toy problem with
// Adam, through the real engine (each task loss is an objective), and draws the paths to SVG.
// Usage: node dist/main.js [--steps=3000] [--learning-rate=0.01] [--out=toy-trajectories.svg]

function option(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

async function main(): Promise<void> {
  const steps = Number(option('steps', '3000'));
  const learningRate = Number(option('learning-rate', '0.01'));
  const out = option('out', 'toy-trajectories.svg');
  await useBackend('cpu', { backends: [cpuBackend()], log: () => {} });
  // FAMO takes logs of L − minLoss; the toy's objectives reach about −20, so its bound is −21.
  const methods: [string, () => Weighting<any>][] = [
    ['ew', () => equalWeighting()],
    ['mgda', () => mgda()],
    ['pcgrad', () => pcgrad()],
    ['cagrad', () => cagrad({ c: 0.5 })],
    ['nash-mtl', () => nashMtl()],
    ['famo', () => famo({ minLosses: -21 })],
  ];
  const trajectories: Trajectory[] = [];
  console.log(`toy problem: ${steps} Adam steps at learning rate ${learningRate} from ${TOY_STARTS.map((s) => `(${s.join(', ')})`).join(', ')}`);
  console.log('method    start          end                  f1        f2        min-norm of the hull');
  for (const [method, make] of methods) {
    for (const start of TOY_STARTS) {
      const toy = toyProblem(start);
      const trainer = new Trainer({ model: toy.model, weighting: make(), optimizer: { name: 'adam', learningRate } });
      const points: [number, number][] = [toy.position()];
      for (let step = 0; step < steps; step++) {
        trainer.step(toy.batch);
        if (step % 20 === 19) points.push(toy.position());
      }
      const [x1, x2] = toy.position();
      const [f1, f2] = toyObjectives(x1, x2);
      const minNorm = twoGradientMinNorm(...toyGradients(x1, x2));
      console.log(
        `${method.padEnd(9)} (${start.join(', ')})`.padEnd(25) +
          `(${x1.toFixed(3)}, ${x2.toFixed(3)})`.padEnd(21) +
          `${f1.toFixed(3).padStart(8)}  ${f2.toFixed(3).padStart(8)}  ${minNorm.toExponential(2)}`,
      );
      trajectories.push({ method, points });
      trainer.dispose();
      toy.dispose();
    }
  }
  writeFileSync(out, renderSvg(trajectories, (a, b) => toyObjectives(a, b).reduce((s, v) => s + v, 0) / 2));
  console.log(`wrote ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
