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
    await expect.poll(() => run.locator('path.raw').getAttribute('d'), { timeout: 60_000 }).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
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

describe('a trained LoRA in Generate', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
    const dataset = path.join(studio.dataDir, '..', 'set');
    mkdirSync(dataset);
    for (let i = 0; i < 2; i++) {
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 60 * i, b: 20 } } })
        .png()
        .toFile(path.join(dataset, `red_fox_${i}.png`));
    }
    const h = studio.backend.handlers;
    const [base] = await h['models.list']({ kind: 'ldm' });
    const job = await h['jobs.submit']({
      spec: { kind: 'train', baseModelId: base!.id, datasetDir: dataset, method: 'lora', outputName: 'fox-lora', steps: 4, resolution: 32 } as never,
    });
    await new Promise<void>((resolve, reject) => {
      const off = studio.backend.on('jobs.updated', (j) => {
        if (j.id !== job.id || !['completed', 'failed', 'cancelled'].includes(j.status)) return;
        off();
        if (j.status === 'completed') resolve();
        else reject(new Error(`training ${j.status}: ${j.error}`));
      });
    });
  }, 240_000);
  afterAll(async () => {
    await studio?.close();
  });

  it('appears in the Generate view and is recorded with the image it made', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    const lora = form.getByRole('checkbox', { name: 'fox-lora' });
    await lora.waitFor();
    await lora.check();
    await form.getByRole('spinbutton', { name: 'Strength of fox-lora' }).fill('0.8');
    await form.getByRole('combobox', { name: 'Prompt' }).fill('a red fox');
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('2');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('32');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('32');
    await form.getByRole('button', { name: 'Generate' }).click();
    await page.getByTestId('selected-result').waitFor({ timeout: 120_000 });
    const found = await studio.backend.handlers['history.search']({ query: 'fox', trashed: false, limit: 5, offset: 0 });
    expect(found.items[0]!.loras).toMatchObject([{ name: 'fox-lora', strength: 0.8 }]);
    expect(studio.pageErrors).toEqual([]);
  }, 150_000);
});
