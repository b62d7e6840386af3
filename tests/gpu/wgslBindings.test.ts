import { describe, expect, it } from 'vitest';
import { wgslBindings } from '../../gpu/kernels/webgpu/bindings';
import { WGSL_MODULES } from '../../gpu/kernels/webgpu/index';

describe('bind-group layouts read from the WGSL', () => {
  it("reads each module's bindings in order", () => {
    expect(wgslBindings(WGSL_MODULES.count)).toEqual(['read-only-storage', 'uniform', 'storage']);
    expect(wgslBindings(WGSL_MODULES.elementwise)).toEqual([
      'storage',
      'uniform',
      'read-only-storage',
      'read-only-storage',
    ]);
    expect(wgslBindings(WGSL_MODULES.select)).toEqual([
      'read-only-storage',
      'uniform',
      ...Array<GPUBufferBindingType>(6).fill('storage'),
      'read-only-storage',
    ]);
  });

  it('treats storage without an access mode as read-only', () => {
    expect(wgslBindings('@group(0) @binding(0) var<storage> a: array<u32>;')).toEqual(['read-only-storage']);
  });

  it('refuses gaps, duplicates, other groups and non-buffer bindings, naming the module', () => {
    expect(() => wgslBindings('@group(0) @binding(1) var<uniform> p: P;', 'm')).toThrow('m: @binding(0) is missing');
    expect(() =>
      wgslBindings('@group(0) @binding(0) var<uniform> p: P;\n@group(0) @binding(0) var<uniform> q: P;', 'm'),
    ).toThrow('m: @binding(0) is declared twice');
    expect(() => wgslBindings('@group(1) @binding(0) var<uniform> p: P;', 'm')).toThrow('group 1');
    expect(() => wgslBindings('@group(0) @binding(0) var<workgroup> w: u32;', 'm')).toThrow('not a buffer binding');
    expect(() => wgslBindings('fn f() {}', 'm')).toThrow('m: declares no bindings');
  });
});
