/** What one compression call can report; the runtime records it per iteration, the app plots it. */
export interface CompressionStats {
  /** Number of coordinates. */
  d: number;
  /** Target count, max(1, floor(density * d)). */
  k: number;
  /** Count actually selected (Gaussian_k and DGC_k can differ from k). */
  selected: number;
  /** Magnitude threshold of the kept selection (|u_i| > threshold), where the operator has one. */
  threshold: number | null;
  /** Contraction ratio ||u - C(u)||^2 / ||u||^2 of the operator in use (0 when u = 0). */
  rho: number;
  /** rho of exact Top_k on the same u. */
  rhoTopk: number;
  /** General bound 1 - k/d. */
  boundGeneral: number;
  /** The paper's bound under bell-shaped data, (1 - k/d)^2. */
  boundGaussian: number;
  /** delta = 1 - (1 - k/d)^2 = (2kd - k^2) / d^2. */
  delta: number;
  /** |selected AND exact top-k| / k. */
  overlap: number;
  mean: number;
  std: number;
  skewness: number;
  excessKurtosis: number;
  histogram?: Histogram;
}

/** Equal-width bins over [min, max]; counts[i] covers [min + i*w, min + (i+1)*w), the last bin is closed. */
export interface Histogram {
  min: number;
  max: number;
  counts: number[];
}

export interface Bounds {
  boundGeneral: number;
  boundGaussian: number;
  delta: number;
}

export function contractionBounds(d: number, k: number): Bounds {
  const keptFraction = k / d;
  const boundGeneral = 1 - keptFraction;
  return {
    boundGeneral,
    boundGaussian: boundGeneral * boundGeneral,
    delta: (2 * k * d - k * k) / (d * d),
  };
}
