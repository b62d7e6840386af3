import { resolve } from 'node:path';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'electron-vite';
import { wgslText } from './scripts/wgslText.ts';

export default defineConfig({
  main: {
    plugins: [wgslText()],
    build: { rollupOptions: { input: { index: resolve(__dirname, 'main/electron/index.ts') } } },
  },
  preload: {
    // One self-contained preload so the renderer's sandbox can stay on.
    build: {
      isolatedEntries: true,
      rollupOptions: {
        input: { index: resolve(__dirname, 'preload/index.ts') },
        // Sandboxed preloads must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'renderer'),
    plugins: [vue()],
    build: { rollupOptions: { input: { index: resolve(__dirname, 'renderer/index.html') } } },
  },
});
