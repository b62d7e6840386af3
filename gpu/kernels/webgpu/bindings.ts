/**
 * Bind-group layouts read from the WGSL itself: each module's `@group(0) @binding(n) var<...>`
 * declarations give the entry types, so the host's layouts cannot drift from the shaders.
 */

/** The buffer binding types a WGSL module declares, by binding number (group 0, numbered 0..n-1). */
export function wgslBindings(code: string, module = 'module'): GPUBufferBindingType[] {
  const types: GPUBufferBindingType[] = [];
  const declaration = /@group\((\d+)\)\s*@binding\((\d+)\)\s*var<\s*(\w+)\s*(?:,\s*(\w+)\s*)?>/g;
  for (const [, group, binding, space, access] of code.matchAll(declaration)) {
    const at = Number(binding);
    if (group !== '0') throw new Error(`${module}: @binding(${at}) is in group ${group}; the kernels use group 0 only`);
    if (types[at] !== undefined) throw new Error(`${module}: @binding(${at}) is declared twice`);
    types[at] = bindingType(space!, access, `${module} @binding(${at})`);
  }
  const gap = Array.from({ length: types.length }, (_, i) => i).find((i) => types[i] === undefined);
  if (gap !== undefined) throw new Error(`${module}: @binding(${gap}) is missing (bindings are numbered 0..n-1)`);
  if (types.length === 0) throw new Error(`${module}: declares no bindings`);
  return types;
}

function bindingType(space: string, access: string | undefined, where: string): GPUBufferBindingType {
  if (space === 'uniform') return 'uniform';
  if (space === 'storage') return access === 'read_write' ? 'storage' : 'read-only-storage';
  throw new Error(`${where}: address space ${space} is not a buffer binding`);
}
