/** What the app core needs about this machine's GPUs and its own command line. */
import type { WorkerBackendChoice } from '../../../common/api';
import { describeGpus, type GpuInfo } from '../../../common/gpus';
import { cliScript } from '../packageRoot';
import { localPlacement } from '../runtime/gpus';

export interface FoundGpus {
  found: GpuInfo[];
  used: GpuInfo[];
  error: string | null;
}

/**
 * The GPUs for the local workers. GPUs chosen by number that do not exist stop the start (the
 * error lists those found); a discovery that fails otherwise leaves the workers unplaced.
 */
export async function findGpus(
  backend: WorkerBackendChoice,
  chosen: number[] | null,
  discover: (() => Promise<GpuInfo[]>) | undefined,
  log: (level: 'info' | 'warn', message: string) => void,
): Promise<FoundGpus> {
  try {
    const { found, used } = await localPlacement(backend, chosen, discover);
    if (used.length > 0) log('info', `local workers on GPU(s):\n${describeGpus(used)}`);
    return { found, used, error: null };
  } catch (error) {
    if (chosen !== null) throw error;
    log('warn', `local workers are not placed on GPUs: ${(error as Error).message}`);
    return { found: [], used: [], error: (error as Error).message };
  }
}

/**
 * The installed CLI, run directly by Node: `npx sparselab` inside the package ran its `prepare`
 * script, which rebuilt the app being served in place. Electron's own binary is no plain Node.
 */
export function installedCli(): string {
  const node = process.versions.electron ? 'node' : process.execPath;
  return `${shellQuote(node)} ${shellQuote(cliScript())}`;
}

function shellQuote(text: string): string {
  if (/^[\w@%+=:,./-]+$/.test(text)) return text;
  return process.platform === 'win32' ? `"${text}"` : `'${text.replaceAll("'", "'\\''")}'`;
}
