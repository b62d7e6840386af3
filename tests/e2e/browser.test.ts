import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath, startServe, type ServeProcess } from './harness';
import { researcherJourney } from './journey';

describe('browser mode (sparselab serve) in Chromium', () => {
  let serve: ServeProcess;
  let browser: Browser;

  beforeAll(async () => {
    serve = await startServe(['--workers', '2']);
    browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('designs, launches, watches, compares and inspects a TopK vs GaussianK experiment', async ({ annotate }) => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await page.goto(serve.url);
      const shots = await researcherJourney(page, 'browser');
      for (const shot of shots) await annotate('screenshot', { path: shot, contentType: 'image/png' });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- serve output ---\n${serve.output().slice(-4000)}`, {
        cause: error,
      });
    }
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('refuses a page without the token and says why', async () => {
    const page = await browser.newPage();
    await page.goto(serve.url.replace(/\?token=[^#]*/, '?token=wrong'));
    await expect.poll(() => page.getByTestId('app-error').textContent(), { timeout: 15_000 }).toMatch(/token/i);
  });
});
