// A dependency-free SVG of the toy problem: a shaded map of the mean objective and one polyline
// per method and start.

export interface Trajectory {
  method: string;
  points: [number, number][];
}

const COLORS: Record<string, string> = {
  ew: '#444444',
  mgda: '#1f77b4',
  pcgrad: '#2ca02c',
  cagrad: '#d62728',
  'nash-mtl': '#9467bd',
  famo: '#ff7f0e',
};

export function renderSvg(
  trajectories: Trajectory[],
  objective: (x1: number, x2: number) => number,
  options: { size?: number; range?: [number, number]; cells?: number } = {},
): string {
  const size = options.size ?? 640;
  const [low, high] = options.range ?? [-10, 10];
  const cells = options.cells ?? 40;
  const toPixel = (x1: number, x2: number): [number, number] => [((x1 - low) / (high - low)) * size, size - ((x2 - low) / (high - low)) * size];
  const values: number[] = [];
  for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) values.push(objective(low + ((i + 0.5) * (high - low)) / cells, low + ((j + 0.5) * (high - low)) / cells));
  const min = Math.min(...values);
  const max = Math.max(...values);
  const cell = size / cells;
  const rects: string[] = [];
  for (let i = 0; i < cells; i++) {
    for (let j = 0; j < cells; j++) {
      const t = (values[i * cells + j]! - min) / (max - min || 1);
      const shade = Math.round(255 - 150 * Math.sqrt(1 - t));
      rects.push(`<rect x="${(i * cell).toFixed(1)}" y="${(size - (j + 1) * cell).toFixed(1)}" width="${cell.toFixed(2)}" height="${cell.toFixed(2)}" fill="rgb(${shade},${shade},255)"/>`);
    }
  }
  const lines = trajectories.map((trajectory) => {
    const color = COLORS[trajectory.method] ?? '#000000';
    const path = trajectory.points.map(([a, b]) => toPixel(a, b).map((v) => v.toFixed(1)).join(',')).join(' ');
    const [sx, sy] = toPixel(...trajectory.points[0]!);
    const [ex, ey] = toPixel(...trajectory.points[trajectory.points.length - 1]!);
    return (
      `<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2" opacity="0.85"/>` +
      `<circle cx="${sx.toFixed(1)}" cy="${sy.toFixed(1)}" r="4" fill="#000"/>` +
      `<circle cx="${ex.toFixed(1)}" cy="${ey.toFixed(1)}" r="4" fill="${color}" stroke="#000"/>`
    );
  });
  const methods = [...new Set(trajectories.map((t) => t.method))];
  const legend = methods
    .map((method, k) => `<rect x="10" y="${10 + k * 20}" width="14" height="14" fill="${COLORS[method] ?? '#000'}"/><text x="30" y="${22 + k * 20}" font-family="sans-serif" font-size="14">${method}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">${rects.join('')}${lines.join('')}<rect x="4" y="4" width="110" height="${methods.length * 20 + 12}" fill="white" opacity="0.8"/>${legend}</svg>\n`;
}
