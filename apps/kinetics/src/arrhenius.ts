import { MtlError, Rng } from '@mtljs/core';

/** Molar gas constant R in J/(mol·K). */
export const GAS_CONSTANT = 8.314;

/**
 * One family of reactions. Its barrier follows an Evans–Polanyi line Ea = e0 + alpha·ΔH, and its
 * pre-exponential factor starts from lnA0 (A in s⁻¹ for unimolecular, M⁻¹·s⁻¹ for bimolecular
 * reactions); the README gives the chemistry behind each number.
 */
export interface ReactionClass {
  readonly name: string;
  readonly molecularity: 1 | 2;
  /** Intrinsic barrier E0 at ΔH = 0, kJ/mol. */
  readonly e0: number;
  /** Evans–Polanyi transfer coefficient α (dimensionless, 0 < α < 1). */
  readonly alpha: number;
  /** Range of the reaction enthalpy ΔH, kJ/mol. */
  readonly deltaH: readonly [number, number];
  /** ln A of an unhindered member (no rotors, no steric bulk). */
  readonly lnA0: number;
  /** Loss of ln A per internal rotor hindered in the transition state. */
  readonly rotorPenalty: number;
  /** Temperatures at which the class is measured, K. */
  readonly temperature: readonly [number, number];
}

export const REACTION_CLASSES: readonly ReactionClass[] = [
  { name: 'H-atom abstraction', molecularity: 2, e0: 60, alpha: 0.3, deltaH: [-80, 60], lnA0: 22.5, rotorPenalty: 0.3, temperature: [300, 1000] },
  { name: 'radical addition to C=C', molecularity: 2, e0: 66, alpha: 0.25, deltaH: [-120, -50], lnA0: 21.5, rotorPenalty: 0.3, temperature: [250, 800] },
  { name: 'six-centre elimination', molecularity: 1, e0: 147, alpha: 0.4, deltaH: [10, 90], lnA0: 29.5, rotorPenalty: 0.35, temperature: [600, 1000] },
  { name: 'pericyclic rearrangement', molecularity: 1, e0: 120, alpha: 0.5, deltaH: [-60, 40], lnA0: 28, rotorPenalty: 0.45, temperature: [400, 1000] },
];

/** Descriptor effects shared by every class (Roberts–Steel-like corrections to Evans–Polanyi). */
export const EFFECTS = {
  /** Range of the strength D of the bond broken, kJ/mol. */
  bondEnergy: [300, 460] as const,
  /** Ea change per kJ/mol of D above the reference: +β·(D − dReference). */
  bondSlope: 0.08,
  bondReference: 400,
  /** Ea added at full steric crowding (index s ∈ [0, 1]): +γ·s, kJ/mol. */
  stericBarrier: 12,
  /** ln A lost at full steric crowding: −δ·s. */
  stericLnA: 1.5,
  /** Polar stabilisation of the transition state (index p ∈ [−1, 1]): −κ·p², kJ/mol. */
  polarBarrier: 8,
  /** Internal rotors r ∈ {0, …, maxRotors}. */
  maxRotors: 6,
} as const;

/** Default measurement noise: σ of Ea in kJ/mol and of ln k (k within ≈ ±30%). */
export const DEFAULT_NOISE = { ea: 3, lnK: 0.3 } as const;

export interface Reaction {
  /** Index into REACTION_CLASSES. */
  reactionClass: number;
  /** Reaction enthalpy ΔH, kJ/mol. */
  deltaH: number;
  /** Strength of the bond broken, kJ/mol. */
  bondEnergy: number;
  /** Steric crowding index in [0, 1]. */
  steric: number;
  /** Polarity index in [−1, 1]; only its magnitude matters. */
  polarity: number;
  /** Internal rotors hindered in the transition state. */
  rotors: number;
  /** Temperature of the rate measurement, K. */
  temperature: number;
  /** True ln A (A in s⁻¹ or M⁻¹·s⁻¹, see the class's molecularity). */
  lnA: number;
  /** True activation energy, kJ/mol. */
  ea: number;
  /** True ln k at `temperature`: ln A − Ea/(R·T). */
  lnK: number;
  /** Measured Ea: ea + N(0, σ_Ea²). */
  eaObserved: number;
  /** Measured ln k: lnK + N(0, σ_lnk²). */
  lnKObserved: number;
}

export interface ReactionOptions {
  count: number;
  seed: number;
  /** Noise standard deviations (default DEFAULT_NOISE); 0 gives noise-free observations. */
  noise?: { ea?: number; lnK?: number };
}

/** ln k = ln A − Ea/(R·T), with Ea in kJ/mol and T in K (Arrhenius 1889). */
export function arrheniusLnK(lnA: number, eaKiloJoules: number, temperature: number): number {
  return lnA - (eaKiloJoules * 1000) / (GAS_CONSTANT * temperature);
}

/** The noise-free activation energy of a reaction's descriptors, kJ/mol. */
export function activationEnergy(r: Pick<Reaction, 'reactionClass' | 'deltaH' | 'bondEnergy' | 'steric' | 'polarity'>): number {
  const c = REACTION_CLASSES[r.reactionClass]!;
  return (
    c.e0 +
    c.alpha * r.deltaH +
    EFFECTS.bondSlope * (r.bondEnergy - EFFECTS.bondReference) +
    EFFECTS.stericBarrier * r.steric -
    EFFECTS.polarBarrier * r.polarity * r.polarity
  );
}

/** The noise-free ln A of a reaction's descriptors. */
export function lnPreExponential(r: Pick<Reaction, 'reactionClass' | 'rotors' | 'steric'>): number {
  const c = REACTION_CLASSES[r.reactionClass]!;
  return c.lnA0 - c.rotorPenalty * r.rotors - EFFECTS.stericLnA * r.steric;
}

function checkNoise(value: number | undefined, fallback: number, field: string): number {
  const sigma = value ?? fallback;
  if (!Number.isFinite(sigma) || sigma < 0) {
    throw new MtlError('BAD_CONFIG', `arrhenius: noise.${field} must be a finite number ≥ 0, got ${value}`, { column: `noise.${field}`, received: value });
  }
  return sigma;
}

/**
 * `count` reactions drawn with a seeded RNG: class uniform, every continuous descriptor uniform in
 * its range, rotors uniform in 0…maxRotors, T uniform in the class's window; then Ea and ln A from
 * the descriptors, ln k from the Arrhenius equation, and independent Gaussian noise on the two
 * measured targets. The same seed gives the same rows.
 */
export function generateReactions(options: ReactionOptions): Reaction[] {
  const { count, seed } = options;
  if (!Number.isInteger(count) || count < 0) {
    throw new MtlError('BAD_CONFIG', `arrhenius: count must be a non-negative integer, got ${count}`, { column: 'count', received: count });
  }
  if (!Number.isFinite(seed)) {
    throw new MtlError('BAD_CONFIG', `arrhenius: seed must be a finite number, got ${seed}`, { column: 'seed', received: seed });
  }
  const sigmaEa = checkNoise(options.noise?.ea, DEFAULT_NOISE.ea, 'ea');
  const sigmaLnK = checkNoise(options.noise?.lnK, DEFAULT_NOISE.lnK, 'lnK');
  const rng = Rng.fromSeed(seed);
  const rows: Reaction[] = [];
  for (let i = 0; i < count; i++) {
    const reactionClass = rng.int(REACTION_CLASSES.length);
    const c = REACTION_CLASSES[reactionClass]!;
    const descriptors = {
      reactionClass,
      deltaH: rng.uniform(c.deltaH[0], c.deltaH[1]),
      bondEnergy: rng.uniform(EFFECTS.bondEnergy[0], EFFECTS.bondEnergy[1]),
      steric: rng.uniform(0, 1),
      polarity: rng.uniform(-1, 1),
      rotors: rng.int(EFFECTS.maxRotors + 1),
      temperature: rng.uniform(c.temperature[0], c.temperature[1]),
    };
    const ea = activationEnergy(descriptors);
    const lnA = lnPreExponential(descriptors);
    const lnK = arrheniusLnK(lnA, ea, descriptors.temperature);
    rows.push({
      ...descriptors,
      lnA,
      ea,
      lnK,
      eaObserved: ea + rng.normal(0, sigmaEa),
      lnKObserved: lnK + rng.normal(0, sigmaLnK),
    });
  }
  return rows;
}

/** Names of the model's input columns, in order. */
export const DESCRIPTOR_NAMES: readonly string[] = [
  'deltaH',
  'bondEnergy',
  'steric',
  'polarity',
  'rotors',
  'inverseTemperature',
  ...REACTION_CLASSES.map((_, k) => `class${k}`),
];

/** Continuous descriptors (standardised on the training split); the rest is the class one-hot. */
export const CONTINUOUS_DESCRIPTORS = 6;

/**
 * A reaction's input row: ΔH, D, s, p, r, 1000/T (the Arrhenius-plot coordinate, K⁻¹), then the
 * class one-hot. Ea, ln A and the targets are not inputs.
 */
export function descriptorRow(r: Reaction): number[] {
  const oneHot = REACTION_CLASSES.map((_, k) => (k === r.reactionClass ? 1 : 0));
  return [r.deltaH, r.bondEnergy, r.steric, r.polarity, r.rotors, 1000 / r.temperature, ...oneHot];
}
