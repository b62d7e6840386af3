import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath, startServe, type ServeProcess } from './harness';
import { badClusterParameter, launchFailingRun, openMalformedFile } from './badInput';
import { darkDashboard, researcherJourney } from './journey';

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
      const dark = await browser.newPage({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
      dark.on('pageerror', (error) => pageErrors.push(error.message));
      await dark.goto(serve.url.replace(/#.*$/, '') + '#/compare');
      shots.push(await darkDashboard(dark, 'browser'));
      await dark.close();
      for (const shot of shots) await annotate('screenshot', { path: shot, contentType: 'image/png' });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- serve output ---\n${serve.output().slice(-4000)}`, {
        cause: error,
      });
    }
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it("refuses bad input in place, shows a run's failure, and keeps what was typed across a reopen", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(serve.url);
    await page.getByTestId('view-designer').waitFor();
    await openMalformedFile(page);
    await launchFailingRun(page);
    await badClusterParameter(page);

    await page.getByTestId('nav-designer').click();
    await page.getByTestId('field-name').fill('typed-before-closing');
    await page.getByTestId('field-epochs').fill('7');
    await page.waitForTimeout(1500);
    await page.close();
    const reopened = await browser.newPage();
    await reopened.goto(serve.url);
    await expect
      .poll(() => reopened.getByTestId('field-name').inputValue(), { timeout: 15_000 })
      .toBe('typed-before-closing');
    expect(await reopened.getByTestId('field-epochs').inputValue()).toBe('7');
  }, 120_000);

  it('refuses a page without the token and says why', async () => {
    const page = await browser.newPage();
    await page.goto(serve.url.replace(/\?token=[^#]*/, '?token=wrong'));
    await expect.poll(() => page.getByTestId('app-error').textContent(), { timeout: 15_000 }).toMatch(/token/i);
  });
});
