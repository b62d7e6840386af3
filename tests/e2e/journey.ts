import { expect } from 'vitest';
import type { Page } from 'playwright-core';
import { screenshotPath } from './harness';

const RUN_TIMEOUT_MS = 150_000;

/**
 * The researcher's day in one pass, the same in browser mode and in the desktop app: design a
 * TopK vs GaussianK experiment on the synthetic task with 2 local workers (meeting a validation
 * error on the way), launch it, watch both runs finish, compare them, and look at their gradients.
 * Every view is photographed; returns the screenshot files.
 */
export async function researcherJourney(page: Page, prefix: string): Promise<string[]> {
  const shots: string[] = [];
  const shoot = async (view: string): Promise<void> => {
    const path = screenshotPath(prefix, view);
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
  };
  const byTestId = (id: string) => page.getByTestId(id);

  // Design: start from the default template and turn it into a small TopK vs GaussianK comparison.
  // Typing before the template (or a saved draft) has filled the form would be overwritten.
  await page.locator('[data-testid="view-designer"][data-ready="true"]').waitFor();
  await byTestId('field-name').fill('e2e-topk-vs-gaussiank');
  await byTestId('field-model').selectOption('synthetic');
  await byTestId('field-dataset.name').selectOption('synthetic');
  await byTestId('field-workers').fill('2');
  await byTestId('field-epochs').fill('2');
  await byTestId('field-batchSize').fill('32');
  await byTestId('field-densityWarmup').fill('');
  await byTestId('field-evaluation.everyEpochs').fill('0.5');
  await byTestId('field-statistics.everyIterations').fill('5');
  await byTestId('field-statistics.histogramIterations').fill('0, 20, 40');
  while ((await page.locator('[data-testid^="arm-row-"]').count()) > 2) await byTestId('arm-remove-2').click();
  await byTestId('arm-method-0').selectOption('topk');
  await byTestId('arm-amount-0').fill('0.05');
  await byTestId('arm-method-1').selectOption('gaussiank');
  await byTestId('arm-amount-1').fill('0.05');

  // Bad input is refused in place, with the schema's message at the field, and launching waits.
  await byTestId('field-optimizer.lr').fill('-1');
  await expect.poll(() => byTestId('error-optimizer.lr').textContent()).toMatch(/greater than 0/);
  expect(await byTestId('designer-launch').isDisabled()).toBe(true);
  await shoot('designer-invalid');
  await byTestId('field-optimizer.lr').fill('0.05');
  await expect.poll(() => byTestId('designer-launch').isEnabled()).toBe(true);
  await expect.poll(() => byTestId('designer-estimate').textContent()).toMatch(/\d/);
  await shoot('designer');

  await byTestId('designer-launch').click();
  await byTestId('view-runs').waitFor({ state: 'visible' });

  // Runs: both arms appear, progress, and finish.
  const rows = page.locator('[data-testid^="run-row-"]');
  await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
  const runIds = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!))).map((id) =>
    id.replace('run-row-', ''),
  );
  await expect
    .poll(async () => (await byTestId(`run-progress-${runIds[0]}`).textContent()) ?? '', { timeout: 60_000 })
    .toMatch(/epoch|%/i);
  await shoot('runs-progress');
  for (const id of runIds) {
    await expect
      .poll(async () => (await byTestId(`run-status-${id}`).textContent())?.trim(), { timeout: RUN_TIMEOUT_MS })
      .toBe('finished');
  }
  await shoot('runs');

  // Compare both runs: curves and the summary table.
  for (const id of runIds) await byTestId(`run-select-${id}`).check();
  await byTestId('runs-compare').click();
  await byTestId('view-compare').waitFor({ state: 'visible' });
  await byTestId('compare-chart').waitFor({ state: 'visible' });
  await expect.poll(() => byTestId('compare-row').count(), { timeout: 30_000 }).toBe(2);
  const summary = (await byTestId('compare-summary').textContent()) ?? '';
  expect(summary).toMatch(/Top_?k/i);
  expect(summary).toMatch(/Gaussian_?k/i);
  const drawn = await chartPointCount(page, 'compare-chart');
  expect(drawn).toBeGreaterThan(0);
  await shoot('compare');

  // Gradients: a histogram of u and the bounds chart.
  await byTestId('nav-gradients').click();
  await byTestId('view-gradients').waitFor({ state: 'visible' });
  await byTestId('gradients-histogram').waitFor({ state: 'visible', timeout: 30_000 });
  await byTestId('gradients-bounds-chart').waitFor({ state: 'visible', timeout: 30_000 });
  expect(await chartPointCount(page, 'gradients-histogram')).toBeGreaterThan(0);
  expect(await chartPointCount(page, 'gradients-bounds-chart')).toBeGreaterThan(0);
  await shoot('gradients');

  for (const view of ['workers', 'cluster', 'kernels'] as const) {
    await byTestId(`nav-${view}`).click();
    await byTestId(`view-${view}`).waitFor({ state: 'visible' });
    await page.waitForTimeout(500);
    await shoot(view);
  }
  return shots;
}

/** Painted pixels of the chart canvas inside (or at) the element with this test id, once it has a size. */
async function chartPointCount(page: Page, testId: string): Promise<number> {
  const painted = () =>
    page.getByTestId(testId).evaluate((element) => {
      const canvas = element instanceof HTMLCanvasElement ? element : element.querySelector('canvas');
      if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) count++;
      return count;
    });
  await expect.poll(painted, { timeout: 30_000 }).toBeGreaterThan(0);
  return painted();
}
