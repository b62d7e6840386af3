import { defineConfig } from 'vitest/config';
import { wgslText } from './scripts/wgslText.ts';

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // WebGPU under SwiftShader and the WebAssembly kernels are CPU-heavy: two cores, two forks.
    pool: 'forks',
    maxWorkers: 2,
    env: {
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    },
  },
});
