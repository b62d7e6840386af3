/**
 * Imported first by scripts bundled as ESM for a machine without node_modules: CommonJS packages
 * inside the bundle (ws) call require() for Node's modules, which an ES module lacks.
 */
import { createRequire } from 'node:module';

const global = globalThis as { require?: NodeJS.Require };
global.require ??= createRequire(import.meta.url);
