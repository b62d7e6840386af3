// Element-wise.

export function addInto(target: usize, addend: usize, n: u32): void {
  const n4 = n & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const off = <usize>i << 2;
    v128.store(target + off, f32x4.add(v128.load(target + off), v128.load(addend + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(target + off, load<f32>(target + off) + load<f32>(addend + off));
  }
}
