// Test-only: the paper's formulas on plain numbers, written independently of the tensor code in
// gate.ts, so tests compare the two. Not exported from the package.

/** S(t) = 0 (t ≤ −γ/2), 1 (t ≥ γ/2), −2t³/γ³ + 3t/(2γ) + 1/2 between. */
export function smoothStepNumber(t: number, gamma: number): number {
  if (t <= -gamma / 2) return 0;
  if (t >= gamma / 2) return 1;
  return (-2 * t ** 3) / gamma ** 3 + (3 * t) / (2 * gamma) + 0.5;
}

/** r(l) = Π_j (S(z_j) if bit j of l is 1 else 1 − S(z_j)), over the 2^m codes. */
export function selectorNumbers(z: readonly number[], gamma: number): number[] {
  return Array.from({ length: 2 ** z.length }, (_, l) => z.reduce((r, zj, j) => r * ((l >> j) & 1 ? smoothStepNumber(zj, gamma) : 1 - smoothStepNumber(zj, gamma)), 1));
}

/** q = Σ_i softmax(α)_i r_i, code l ≥ E counted for expert l − E. */
export function gateNumbers(z: readonly (readonly number[])[], alpha: readonly number[], experts: number, gamma: number): number[] {
  const top = Math.max(...alpha);
  const exps = alpha.map((a) => Math.exp(a - top));
  const total = exps.reduce((a, b) => a + b, 0);
  const q = new Array<number>(experts).fill(0);
  z.forEach((zi, i) => selectorNumbers(zi, gamma).forEach((r, l) => (q[l < experts ? l : l - experts]! += (exps[i]! / total) * r)));
  return q;
}

/** H(p) = −Σ p log p (0 log 0 = 0). */
export function entropyNumber(p: readonly number[]): number {
  return -p.reduce((h, x) => (x > 0 ? h + x * Math.log(x) : h), 0);
}
