/** A NaN or infinity reached the compressor: training must stop rather than select silently. */
export class NonFiniteGradientError extends Error {
  constructor(
    readonly tensor: string,
    readonly index: number,
    readonly value: number,
    /** 'gradient' when it arrived that way; 'residual' when gradient + residual overflowed. */
    readonly source: 'gradient' | 'residual',
  ) {
    super(
      source === 'gradient'
        ? `gradient of tensor "${tensor}" has ${value} at index ${index}`
        : `gradient + residual of tensor "${tensor}" overflowed to ${value} at index ${index}`,
    );
    this.name = 'NonFiniteGradientError';
  }
}
