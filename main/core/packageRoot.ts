import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding SparseLab's package.json, from source or from a bundle in out/. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'gpu'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no SparseLab package root above ${from}`);
  }
}

/** The installed CLI's script, bin/sparselab.js: run by this Node, never npx (which may run the package's build scripts). */
export function cliScript(): string {
  return join(packageRoot(), 'bin', 'sparselab.js');
}
