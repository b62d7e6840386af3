// Constants shared by the kernels (see index.ts).

export const MASK: i32 = 0x7fffffff;
export const EXP_ALL: i32 = 0x7f800000; // |x| bits >= this <=> NaN or +-Inf
// Blocks whose max |x| is outside [2^-40, 2^56] are re-summed in f64: beyond them f32 partial
// sums of squares could overflow, or squares of tiny values underflow.
export const BIG_BITS: i32 = (127 + 56) << 23;
export const SMALL_BITS: i32 = (127 - 40) << 23;
export const BLOCK: u32 = 1024;
export const HIST_BINS: u32 = 65536;
