import { expect } from 'vitest';
import type { Page } from 'playwright-core';

const byTestId = (page: Page, id: string) => page.getByTestId(id);

/** A malformed experiment file is refused with the line and field named, and the form keeps what it had. */
export async function openMalformedFile(page: Page): Promise<void> {
  await byTestId(page, 'nav-designer').click();
  // The saved draft fills the form after the view appears: read the name once it has.
  await page.locator('[data-testid="view-designer"][data-ready="true"]').waitFor();
  const before = await byTestId(page, 'field-name').inputValue();
  await byTestId(page, 'designer-open-file').setInputFiles({
    name: 'broken.yaml',
    mimeType: 'text/yaml',
    buffer: Buffer.from('name: broken\nmodel: fnn\nepochs: -3\narms: []\n'),
  });
  await expect.poll(() => byTestId(page, 'designer-open-errors').textContent()).toMatch(/epochs.*line 3/s);
  expect(await byTestId(page, 'field-name').inputValue()).toBe(before);
}

/** A run that fails (a dataset folder that does not exist) shows its reason in the Runs view. */
export async function launchFailingRun(page: Page): Promise<void> {
  await byTestId(page, 'nav-designer').click();
  await byTestId(page, 'designer-tab-text').click();
  await byTestId(page, 'designer-text').fill(
    [
      'name: e2e-missing-cifar',
      'model: resnet20',
      'dataset: { name: cifar10, path: /nonexistent/cifar-10-batches-bin }',
      'workers: 1',
      'epochs: 1',
      'batchSize: 8',
      'optimizer: { lr: 0.1 }',
      'arms: [{ method: topk, density: 0.01 }]',
      '',
    ].join('\n'),
  );
  await expect.poll(() => byTestId(page, 'designer-launch').isEnabled()).toBe(true);
  await byTestId(page, 'designer-launch').click();
  await byTestId(page, 'view-runs').waitFor({ state: 'visible' });
  const failed = page.locator('[data-testid^="run-row-"][data-status="failed"]');
  await expect.poll(() => failed.count(), { timeout: 60_000 }).toBe(1);
  const id = (await failed.getAttribute('data-testid'))!.replace('run-row-', '');
  await expect.poll(() => byTestId(page, `run-reason-${id}`).textContent()).toMatch(/nonexistent|cifar/i);
  await byTestId(page, 'nav-designer').click();
  await byTestId(page, 'designer-tab-form').click();
}

/** A bad number in a cluster preset is refused at the field. */
export async function badClusterParameter(page: Page): Promise<void> {
  await byTestId(page, 'nav-cluster').click();
  const field = page.locator('[data-testid^="cluster-param-"]:not([data-testid$="-error"])').first();
  await field.waitFor({ state: 'visible', timeout: 30_000 });
  const id = (await field.getAttribute('data-testid'))!;
  await field.fill('-5');
  await expect.poll(() => byTestId(page, `${id}-error`).isVisible()).toBe(true);
  expect((await byTestId(page, `${id}-error`).textContent())?.length).toBeGreaterThan(3);
}
