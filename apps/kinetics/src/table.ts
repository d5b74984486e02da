import type { ComparisonResult, Spread } from './experiment';
import { MODEL_NAMES } from './experiment';

function cell(value: Spread, digits: number): string {
  return `${value.mean.toFixed(digits)} ± ${value.std.toFixed(digits)}`;
}

/**
 * The comparison as a Markdown table, one block of rows per regime: test RMSE, MAE (physical
 * units) and R² of each task as mean ± std over seeds; Δm% against the plain single-task pair with
 * the number of seeds on which it is positive; and, for hard sharing, Δm% against the single-task
 * pair trained with the same weighting.
 */
export function formatTable(result: ComparisonResult, trainSize: number): string {
  const header = [
    'Ea labels',
    'model',
    'ln k RMSE',
    'ln k MAE',
    'ln k R²',
    'Ea RMSE (kJ/mol)',
    'Ea MAE (kJ/mol)',
    'Ea R²',
    'Δm% vs single-task (wins)',
    'Δm% vs single-task, same weighting',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const regime of result.regimes) {
    for (const name of MODEL_NAMES) {
      const model = regime.models[name];
      const { lnk, ea } = model.tasks;
      const delta = model.deltaM ? `${cell(model.deltaM, 2)} (${model.wins}/${model.runs.length})` : 'baseline';
      const same = model.deltaMSameWeighting ? cell(model.deltaMSameWeighting, 2) : '';
      lines.push(
        `| ${regime.labelledEaCount}/${trainSize} | ${name} | ${cell(lnk.rmse, 3)} | ${cell(lnk.mae, 3)} | ${cell(lnk.r2, 4)} | ` +
          `${cell(ea.rmse, 2)} | ${cell(ea.mae, 2)} | ${cell(ea.r2, 4)} | ${delta} | ${same} |`,
      );
    }
  }
  return lines.join('\n');
}
