import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';

/**
 * The smooth-step function (Hazimeh et al. 2021, §3, taken from their Tree Ensemble Layer, 2020):
 *   S(t) = 0                                   for t ≤ −γ/2,
 *          −2t³/γ³ + 3t/(2γ) + 1/2             for −γ/2 ≤ t ≤ γ/2,
 *          1                                   for t ≥ γ/2.
 * The cubic equals 0 and 1 at ∓γ/2 with zero slope there, so S is C¹: computing it as the cubic of
 * clip(t, −γ/2, γ/2) gives the same values and gradients (clip passes no gradient outside).
 */
export function smoothStep(t: Tensor, gamma: number): Tensor {
  return tf.tidy(() => {
    const c = tf.clipByValue(t, -gamma / 2, gamma / 2);
    // Horner form: c · (3/(2γ) − 2c²/γ³) + 1/2.
    return tf.add(tf.mul(c, tf.add(tf.mul(tf.square(c), -2 / gamma ** 3), 3 / (2 * gamma))), 0.5);
  });
}

/** m = ⌈log2 E⌉ binary digits address E experts. */
export function codeLength(experts: number): number {
  return Math.ceil(Math.log2(experts));
}

/**
 * The single-expert selectors (Hazimeh et al. 2021, §3): z [B, k, m] → r [B, k, 2^m] with
 *   r_i(l) = Π_j ( S(z_ij) if bit j of l is 1 else 1 − S(z_ij) ),
 * bit 0 being the least significant. Each r_i sums to 1 over the 2^m codes.
 */
export function selectorWeights(z: Tensor3D, gamma: number): Tensor3D {
  return tf.tidy(() => {
    const [batch, k, m] = z.shape;
    const codes = 2 ** m;
    const s = smoothStep(z, gamma) as Tensor3D;
    let r: Tensor | null = null;
    for (let j = 0; j < m; j++) {
      // Slices rather than tf.unstack, whose gradient fails when m = 1 (tfjs-core 4.22).
      const sj = tf.slice(s, [0, 0, j], [batch, k, 1]);
      // factor(l) = (1 − s_j) + bit_j(l) · (2 s_j − 1): s_j where the bit is 1, 1 − s_j where it is 0.
      const bits = tf.tensor1d(Array.from({ length: codes }, (_, l) => (l >> j) & 1));
      const factor = tf.add(tf.sub(1, sj), tf.mul(bits, tf.sub(tf.mul(sj, 2), 1)));
      r = r === null ? factor : tf.mul(r, factor);
    }
    return r as Tensor3D;
  });
}

/**
 * The DSelect-k gate (Hazimeh et al. 2021, §3): q = Σ_i softmax(α)_i · r_i, z [B, k, m] and
 * α [B, k] → [B, E]. When E < 2^m, code l ≥ E selects expert l − E (see README: "experts that are
 * not a power of 2"), so the weights still sum to 1 and a one-hot selector still picks one expert.
 */
export function dselectGate(z: Tensor3D, alpha: Tensor2D, experts: number, gamma: number): Tensor2D {
  return tf.tidy(() => {
    const r = selectorWeights(z, gamma);
    const mixed = tf.sum(tf.mul(tf.expandDims(tf.softmax(alpha), 2), r), 1) as Tensor2D;
    const codes = mixed.shape[1];
    if (codes === experts) return mixed;
    const batch = mixed.shape[0];
    const direct = tf.slice(mixed, [0, 0], [batch, experts]);
    const folded = tf.pad(tf.slice(mixed, [0, experts], [batch, codes - experts]), [
      [0, 0],
      [0, 2 * experts - codes],
    ]);
    return tf.add(direct, folded) as Tensor2D;
  });
}

/**
 * Σ_i H(r_i), H(p) = −Σ_l p_l log p_l, the entropy of each selector over the 2^m codes: the
 * regulariser of Hazimeh et al. (2021) that drives the selectors to one-hot. z [B, k, m];
 * averaged over B.
 */
export function selectorEntropy(z: Tensor3D, gamma: number): Tensor {
  return tf.tidy(() => {
    const r = selectorWeights(z, gamma);
    // log(r + ε): r log r → 0 as r → 0 and its gradient stays finite at exact zeros.
    const h = tf.neg(tf.sum(tf.mul(r, tf.log(tf.add(r, 1e-12))), 2));
    return tf.div(tf.sum(h), z.shape[0]);
  });
}
