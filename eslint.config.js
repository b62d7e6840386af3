import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import vue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/*
 * Import rules by layer (after VS Code's code-layering rule): each layer names the imports it may
 * not make, each with the reason. A file gets the rules of the most specific layer it is in, so a
 * layer repeats its parent's rules (flat config replaces a rule, it does not merge it).
 */

/** Modules that exist only in Node (or Electron's main process). */
const NODE_MODULES = [
  'node:*',
  ...['fs', 'fs/*', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'net', 'events'],
  ...['url', 'util', 'stream', 'zlib', 'module', 'electron', 'ws', 'better-sqlite3', 'webgpu'],
];
/** Globals only Node or only a browser has; environment-free code may use neither. */
const NODE_GLOBALS = ['process', 'Buffer', 'global', 'require', 'module', '__dirname', '__filename', 'setImmediate'];
const DOM_GLOBALS = ['window', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'HTMLElement'];

const rule = (message, group) => ({ group, message });
/** Product code does not import the tests or the top-level bench (main/core/bench is product code: the CLI's). */
const NOT_TESTS = rule('product code does not import the tests or the top-level bench', ['**/tests/**', '**/bench/**']);
const CORE_NOT_TESTS = rule('product code does not import the tests or the top-level bench', [
  '**/tests/**',
  '../../bench/**',
  '../../../bench/**',
  '../../../../bench/**',
]);
const NOT_UI = rule('only the renderer and the preload are UI', ['**/renderer/**', '**/preload/**']);
const GPU_ONLY_COMMON = rule('gpu/ imports only common/', ['**/main/**', 'electron']);
const ENVIRONMENT_FREE = (where) =>
  rule(
    `${where} is environment-free: no Node, no DOM`,
    NODE_MODULES.filter((m) => m !== 'electron'),
  );

function layer(files, rules, restrictedGlobals = []) {
  return {
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: rules }],
      ...(restrictedGlobals.length > 0 && {
        'no-restricted-globals': [
          'error',
          ...restrictedGlobals.map((name) => ({ name, message: `${name} is not environment-free` })),
        ],
      }),
    },
  };
}

/** The environment-free parts of gpu/: operators, the kernel contract, seeds, compression (packing included). */
const GPU_ENVIRONMENT_FREE = [
  'gpu/operators/**',
  'gpu/compression/**',
  'gpu/kernels/kernels.ts',
  'gpu/kernels/random/random.ts',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'out/',
      'build/',
      '.device/',
      '.devkit/',
      '.gl/',
      'gpu/kernels/cpu/wasm/generated/',
      'gpu/kernels/**/*.as.ts',
      'bench/results/',
    ],
  },
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
  layer(
    ['common/**'],
    [
      rule('common/ imports nothing of ours', ['**/gpu/**', '**/main/**', '**/renderer/**', '**/preload/**']),
      NOT_TESTS,
      ENVIRONMENT_FREE('common/'),
      rule('common/ is environment-free', ['electron']),
    ],
    [...NODE_GLOBALS, ...DOM_GLOBALS],
  ),
  layer(['gpu/**'], [GPU_ONLY_COMMON, NOT_UI, NOT_TESTS]),
  layer(
    GPU_ENVIRONMENT_FREE,
    [
      GPU_ONLY_COMMON,
      NOT_UI,
      NOT_TESTS,
      ENVIRONMENT_FREE('this part of gpu/'),
      rule('environment-free gpu/ code reaches kernels only through their contract (gpu/kernels/kernels.ts)', [
        '**/worker/**',
        '**/webgpu/**',
        '**/kernels/*/webgpu',
        '**/webgpuDevice/**',
        '**/io/**',
        '**/kernels/cpu/**',
        '**/engine',
      ]),
    ],
    [...NODE_GLOBALS, ...DOM_GLOBALS],
  ),
  layer(
    ['main/core/**'],
    [
      rule('main/core is plain Node: no Electron, no UI', [
        '**/renderer/**',
        '**/preload/**',
        '**/electron/**',
        'electron',
      ]),
      CORE_NOT_TESTS,
    ],
  ),
  layer(
    ['main/electron/**'],
    [NOT_TESTS, rule('the Electron shell reaches the renderer only over IPC', ['**/renderer/**'])],
  ),
  layer(
    ['renderer/**', '**/preload/**'],
    [
      rule('the renderer and preload see only common/', [
        '**/gpu/**',
        '**/main/**',
        ...NODE_MODULES.filter((m) => m !== 'electron'),
      ]),
      NOT_TESTS,
    ],
  ),
  layer(
    ['tests/**'],
    [
      rule('tests do not import the bench: what both use lives in common/ or gpu/', [
        '**/core/bench/**',
        '../bench/**',
        '../../bench/**',
      ]),
    ],
  ),
  layer(['bench/**'], [rule('the bench does not import the tests', ['**/tests/**'])]),
  prettier,
);
