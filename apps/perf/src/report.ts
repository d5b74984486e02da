import type { Row } from './bench';

/** One acceptance point of issue 11, evaluated on a run's rows. */
export interface Check {
  point: number;
  what: string;
  /** The measured value(s), as text. */
  measured: string;
  pass: boolean;
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/** The acceptance points 1–6 on the rows of one run (a point with no row to judge fails). */
export function acceptance(rows: readonly Row[]): Check[] {
  const overhead = rows.filter((r) => r.kind === 'overhead');
  const weightings = rows.filter((r) => r.kind === 'weighting');
  const byT = (list: readonly Row[]) => [...new Set(list.map((r) => r.tasks))].sort((a, b) => a - b);
  const worst = (list: readonly Row[]) => list.reduce((max, r) => Math.max(max, r.ratio), Number.NEGATIVE_INFINITY);
  const checks: Check[] = [];

  checks.push({
    point: 1,
    what: 'library overhead: mtljs EW step ≤ 1.05 × raw tfjs step',
    measured: overhead.map((r) => `T=${r.tasks}: ${fmt(r.ratio, 3)}×`).join(', ') || 'not measured',
    pass: overhead.length > 0 && overhead.every((r) => r.ratio <= 1.05),
  });

  // Point 2 from the interleaved pair (EW T = 40 against EW T = 2) when the run has it, else from
  // the two overhead rows; raw tfjs's scaling always from the overhead rows.
  const ew2 = overhead.find((r) => r.tasks === 2);
  const ew40 = overhead.find((r) => r.tasks === 40);
  const pair = rows.find((r) => r.kind === 'scaling' && r.tasks === 40 && r.leakSteps > 0);
  const scaling = pair ? pair.ratio : ew2 && ew40 ? ew40.method.median / ew2.method.median : Number.NaN;
  const rawScaling = ew2 && ew40 ? ew40.baseline.median / ew2.baseline.median : Number.NaN;
  checks.push({
    point: 2,
    what: 'EW at T = 40 ≤ 1.5 × EW at T = 2',
    measured: `${fmt(scaling)}×${pair ? ` (interleaved: ${fmt(pair.method.median)} vs ${fmt(pair.baseline.median)} ms)` : ''} (raw tfjs: ${fmt(rawScaling)}×)`,
    pass: scaling <= 1.5,
  });

  const loss = weightings.filter((r) => r.level === 'loss');
  checks.push({
    point: 3,
    what: 'loss-level methods ≤ 1.1 × EW',
    measured: loss.length ? `worst ${fmt(worst(loss), 3)}× (${loss.filter((r) => r.ratio > 1.1).map((r) => `${r.weighting} ${r.trunk} T=${r.tasks}`).join(', ') || 'all within'})` : 'not measured',
    pass: loss.length > 0 && loss.every((r) => r.ratio <= 1.1),
  });

  const features = weightings.filter((r) => r.level === 'gramian' && r.site === 'features');
  checks.push({
    point: 4,
    what: "Gramian methods at site 'features' ≤ 1.3 × EW (T = 2, 8, 40)",
    measured: byT(features).map((t) => `T=${t}: worst ${fmt(worst(features.filter((r) => r.tasks === t)))}×`).join(', ') || 'not measured',
    pass: features.length > 0 && features.every((r) => r.ratio <= 1.3),
  });

  const shared = weightings.filter((r) => r.site === 'shared');
  checks.push({
    point: 5,
    what: "at site 'shared' ≤ 0.75 × T × EW",
    measured: byT(shared).map((t) => `T=${t}: worst ${fmt(worst(shared.filter((r) => r.tasks === t)))}× = ${fmt(worst(shared.filter((r) => r.tasks === t)) / t)} T`).join(', ') || 'not measured',
    pass: shared.length > 0 && shared.every((r) => r.ratio <= 0.75 * r.tasks),
  });

  // The scaling pair repeats two overhead configurations, whose leak runs are in their own rows.
  const configurations = rows.filter((r) => r.kind !== 'scaling');
  const steps = Math.min(...configurations.map((r) => r.leakSteps));
  const moved = rows.filter((r) => r.tensorsPerStep !== 0 || r.leaked !== 0);
  checks.push({
    point: 6,
    what: 'tensor count flat over 500 steps for every configuration',
    measured: configurations.length ? `${configurations.length - moved.length}/${configurations.length} flat over ≥ ${steps} steps${moved.length ? `; moved: ${moved.map((r) => `${r.weighting} ${r.site ?? ''} ${r.trunk} T=${r.tasks}`).join(', ')}` : ''}` : 'not measured',
    pass: configurations.length > 0 && moved.length === 0 && steps >= 500,
  });
  return checks;
}

/** The run as Markdown: the acceptance summary, then one table per kind. */
export function markdown(
  rows: readonly Row[],
  meta: { command: string; machine: string; date: string; backend: string; steps: number; warmup: number; peakRssMiB: number; batch?: number; leakBatch?: number },
): string {
  const lines: string[] = [];
  lines.push(`Measured ${meta.date} on ${meta.machine}, backend **${meta.backend}**, with:`, '', '```sh', meta.command, '```', '');
  lines.push(
    `Each configuration runs interleaved with its baseline in one process (ABBA order), ${meta.warmup} warm-up steps each, then ${meta.steps} measured steps each; ` +
      `times are medians (min–max) in ms per step${meta.batch ? ` on a batch of ${meta.batch}` : ''}. Peak RSS of the run: ${fmt(meta.peakRssMiB, 0)} MiB.` +
      (meta.leakBatch && meta.leakBatch !== meta.batch ? ` The tensor count is watched over every step; the steps after the timed ones (the 'leaked' column) use a batch of ${meta.leakBatch}.` : ''),
    '',
  );
  lines.push('| # | target | measured | pass |', '|---|---|---|---|');
  for (const check of acceptance(rows)) lines.push(`| ${check.point} | ${check.what} | ${check.measured} | ${check.pass ? 'yes' : '**no**'} |`);
  lines.push('', '### mtljs EW vs a hand-written tfjs step (MLP 784→256→128, T heads 128→10)', '');
  lines.push(
    "'tuned': explicit-transpose dense backward and a log-softmax loss (the baseline of point 1); 'naive': tf.matMul's own gradient and tf.losses.softmaxCrossEntropy. Each pair is measured on its own.",
    '',
  );
  lines.push('| T | raw flavour | mtljs EW | raw tfjs | ratio | tensors/step | leaked |', '|---|---|---|---|---|---|---|');
  const cell = (s: Row['method']) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
  for (const r of rows.filter((x) => x.kind === 'overhead' || x.kind === 'overhead-naive')) {
    lines.push(`| ${r.tasks} | ${r.kind === 'overhead' ? 'tuned' : 'naive'} | ${cell(r.method)} | ${cell(r.baseline)} | ${fmt(r.ratio, 3)} | ${r.tensorsPerStep} | ${r.leaked} / ${r.leakSteps} |`);
  }
  const pairs = rows.filter((x) => x.kind === 'scaling');
  if (pairs.length) {
    lines.push('', '### EW with many tasks vs EW with few (point 2; one interleaved pair, no leak steps of its own)', '');
    lines.push('| T | EW at T | EW at the fewest tasks | ratio | tensors/step |', '|---|---|---|---|---|');
    for (const r of pairs) lines.push(`| ${r.tasks} | ${cell(r.method)} | ${cell(r.baseline)} | ${fmt(r.ratio, 3)} | ${r.tensorsPerStep} |`);
  }
  lines.push('', '### Every weighting vs EW (same model, batch and backend)', '');
  lines.push('| trunk | T | weighting | level | site | method ms | EW ms | ratio | tensors/step | leaked |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows.filter((x) => x.kind === 'weighting')) {
    lines.push(`| ${r.trunk} | ${r.tasks} | ${r.weighting} | ${r.level} | ${r.site ?? '–'} | ${cell(r.method)} | ${cell(r.baseline)} | ${fmt(r.ratio)} | ${r.tensorsPerStep} | ${r.leaked} / ${r.leakSteps} |`);
  }
  return `${lines.join('\n')}\n`;
}

export const TABLE_START = '<!-- bench:start (written by `pnpm bench`; edits here are replaced) -->';
export const TABLE_END = '<!-- bench:end -->';

/** README text with the section between the markers replaced (appended when the markers are missing). */
export function replaceTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  const block = `${TABLE_START}\n${table}${TABLE_END}`;
  if (start < 0 || end < start) return `${readme.trimEnd()}\n\n${block}\n`;
  return `${readme.slice(0, start)}${block}${readme.slice(end + TABLE_END.length)}`;
}
