// The optimizer's own WebAssembly module (an entry of its own, built beside the compression
// kernels by scripts/build-wasm.js; gpu/worker/optimizer.ts). The host owns linear memory.

export function heapBase(): usize {
  return __heap_base;
}

// Optimizer. One pass of SGD with momentum in float32, each operation rounded as PyTorch's
// in-place ops round it: v = (momentum * v + scale * g) [+ weightDecay * w]; w = w + (-lr) * v.
// The gradient sum g is consumed: zeroed as it is read, ready for the next step's sum.

export function sgdMomentum(w: usize, v: usize, g: usize, n: u32, lr: f32, momentum: f32, scale: f32, weightDecay: f32): void {
  const n4 = n & ~3;
  const m4 = f32x4.splat(momentum);
  const s4 = f32x4.splat(scale);
  const l4 = f32x4.splat(-lr);
  const d4 = f32x4.splat(weightDecay);
  const zero = f32x4.splat(0);
  const decay = weightDecay != 0;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const off = <usize>i << 2;
    const wi = v128.load(w + off);
    let vi = f32x4.add(f32x4.mul(m4, v128.load(v + off)), f32x4.mul(s4, v128.load(g + off)));
    if (decay) vi = f32x4.add(vi, f32x4.mul(d4, wi));
    v128.store(v + off, vi);
    v128.store(w + off, f32x4.add(wi, f32x4.mul(l4, vi)));
    v128.store(g + off, zero);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const wi = load<f32>(w + off);
    let vi = momentum * load<f32>(v + off) + scale * load<f32>(g + off);
    if (decay) vi += weightDecay * wi;
    store<f32>(v + off, vi);
    store<f32>(w + off, wi + -lr * vi);
    store<f32>(g + off, 0);
  }
}
