import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import vue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Imports flow one way (see README, Architecture): each folder may not reach the ones listed. */
function forbid(files, patterns, message) {
  return {
    files,
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }] },
  };
}

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'electron', 'ws', 'better-sqlite3'];

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'build/', '.device/', '.gl/', 'gpu/kernels/cpu/wasm/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['renderer/**'], languageOptions: { globals: { ...globals.browser } } },
  forbid(
    ['common/**'],
    ['../gpu/*', '../main/*', '../renderer/*', '../preload/*', ...nodeBuiltins],
    'common/ is environment-free and imports nothing of ours',
  ),
  forbid(['gpu/**'], ['**/main/*', '**/renderer/*', '**/preload/*', 'electron'], 'gpu/ imports only common/'),
  forbid(
    ['main/core/**'],
    ['**/renderer/*', '**/preload/*', '**/electron/*', 'electron'],
    'main/core is plain Node: no Electron, no UI',
  ),
  forbid(
    ['renderer/**', 'preload/**'],
    ['**/gpu/*', '**/main/*', ...nodeBuiltins.filter((m) => m !== 'electron')],
    'the renderer and preload see only common/',
  ),
  prettier,
);
