import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

describe('train in Chromium against the real backend', () => {
  let studio: Studio;
  let dataset: string;
  beforeAll(async () => {
    studio = await launchStudio();
    dataset = path.join(studio.dataDir, '..', 'foxes');
    mkdirSync(dataset);
    for (const [i, colour] of [[200, 80, 20], [180, 90, 30], [220, 70, 10]].entries()) {
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: colour[0]!, g: colour[1]!, b: colour[2]! } } })
        .png()
        .toFile(path.join(dataset, `red_fox_${i}.png`));
    }
    writeFileSync(path.join(dataset, 'red_fox_0.txt'), 'a red fox in the snow');
    writeFileSync(path.join(dataset, 'broken.png'), 'not a png');
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Train' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('scans a typed folder path and reports images, captions and rejects', async () => {
    const { page } = studio;
    await page.getByRole('textbox', { name: 'Dataset folder' }).fill(path.join(dataset, 'nope'));
    await page.getByRole('button', { name: 'Scan folder' }).click();
    await expect.poll(async () => (await page.getByRole('alert').first().textContent()) ?? '').toMatch(/No folder/);
    await page.getByRole('textbox', { name: 'Dataset folder' }).fill(dataset);
    await page.getByRole('button', { name: 'Scan folder' }).click();
    const summary = page.getByTestId('scan-summary');
    await expect.poll(() => summary.textContent()).toMatch(/^\s*3\s*images\s*1\s*with caption files\s*2\s*captioned from the file name\s*1\s*rejected\s*$/);
    const captions = page.getByRole('list', { name: 'Captions' });
    expect(await captions.textContent()).toContain('a red fox in the snow');
    expect(await page.getByRole('list', { name: 'Rejected files' }).textContent()).toContain('broken.png');
  });

  it('starts a short fine-tune, shows the loss curve, cancels it and resumes it', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Training setup' });
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('300');
    await form.getByRole('spinbutton', { name: 'Resolution' }).fill('32');
    await form.getByRole('spinbutton', { name: /Sample every/ }).fill('0');
    await form.getByRole('button', { name: 'Start training' }).click();
    const run = page.getByRole('region', { name: 'Training run' });
    const status = page.getByTestId('train-status');
    await status.waitFor();
    // The first loss points reach the chart while the run goes on.
    await expect.poll(() => run.textContent(), { timeout: 150_000 }).toMatch(/loss \d/);
    expect(await status.textContent()).toBe('Training');
    expect(await run.locator('path.raw').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    await studio.screenshot('train');
    await run.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('Cancelled');
    const [cancelled] = await studio.backend.handlers['jobs.list']({ limit: 1 });
    expect(cancelled).toMatchObject({ kind: 'train', status: 'cancelled' });
    // Resume goes on from the last checkpoint.
    await run.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(/Queued|Training|Finished/);
    await run.getByRole('button', { name: 'Cancel' }).click().catch(() => {});
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(/Cancelled|Finished/);
    expect(studio.pageErrors).toEqual([]);
  }, 300_000);
});
