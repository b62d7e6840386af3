import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron as electron } from 'playwright-core';
import { describe, it } from 'vitest';
import { electronBinary, ROOT } from './harness';
import { researcherJourney } from './journey';

describe('desktop app (Electron)', () => {
  it('runs the same journey in the desktop window', async ({ skip, annotate }) => {
    const binary = electronBinary();
    if ('missing' in binary) {
      const reason = `skipped: ${binary.missing}; install it with \`npm install electron\` (without ELECTRON_SKIP_BINARY_DOWNLOAD) to run this journey`;
      console.warn(`[e2e] desktop app journey ${reason}`);
      skip(reason);
      return;
    }
    // better-sqlite3 must be built for Electron's ABI; `npm start` does it once and copies it beside the main bundle.
    if (!existsSync(join(ROOT, 'out', 'main', 'node_modules', 'better-sqlite3')))
      throw new Error('better-sqlite3 is not built for Electron yet: run `npm start` once, then the tests');
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-e2e-electron-'));
    const app = await electron.launch({
      executablePath: binary.path,
      args: [join(ROOT, 'out', 'main', 'index.js'), '--no-sandbox'],
      env: { ...process.env, SPARSELAB_HOME: dataDir, SPARSELAB_WORKERS: '2' },
    });
    try {
      const page = await app.firstWindow();
      // Electron asks where to save a download: the exports are checked in browser mode.
      const shots = await researcherJourney(page, 'electron', { downloads: false });
      for (const shot of shots) await annotate('screenshot', { path: shot, contentType: 'image/png' });
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
