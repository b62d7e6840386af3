import type { Plugin } from 'vite';

/** Lets `import shader from './x.wgsl'` yield the shader's source text in every Vite build. */
export function wgslText(): Plugin {
  return {
    name: 'sparselab-wgsl-text',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}
