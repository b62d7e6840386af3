/** What the app reads about its own installation: the experiment templates, its version, its hub's address. */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ExperimentTemplate } from '../../../common/api';
import { packageRoot } from '../packageRoot';

const DEFAULT_TEMPLATE = 'mnist-fnn-topk-vs-gaussiank.yaml';

/** The experiment files in resources/experiments, each under its `name` (else its file name). */
export function listTemplates(): ExperimentTemplate[] {
  const folder = join(packageRoot(), 'resources', 'experiments');
  const files = readdirSync(folder)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.map((file) => {
    const text = readFileSync(join(folder, file), 'utf8');
    let name = file.replace(/\.ya?ml$/, '');
    try {
      const parsed = parseYaml(text) as { name?: unknown } | null;
      if (typeof parsed?.name === 'string') name = parsed.name;
    } catch {
      // A broken template still lists, under its file name; launching it reports the problem.
    }
    return { file, name, text, isDefault: file === DEFAULT_TEMPLATE };
  });
}

let version: string | null = null;
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** The hub's address as a worker on another machine dials it: a wildcard listen becomes this machine's address. */
export function reachableHubUrl(listen: string, port: number): string {
  const host = listen === '0.0.0.0' || listen === '::' ? externalAddress() : listen;
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

/** This machine's first non-internal IPv4 address, else its host name. */
function externalAddress(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    const v4 = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) return v4.address;
  }
  return os.hostname();
}
