import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    expect(await captions.getByRole('textbox', { name: 'Caption of red_fox_0.png' }).inputValue()).toBe('a red fox in the snow');
    expect(await page.getByRole('list', { name: 'Rejected files' }).textContent()).toContain('broken.png');
  });

  it('edits captions in the scan: Enter and leaving the field save the .txt file, a failure is shown', async () => {
    const { page } = studio;
    const captions = page.getByRole('list', { name: 'Captions' });
    const fox1 = captions.getByRole('textbox', { name: 'Caption of red_fox_1.png' });
    expect(await fox1.inputValue()).toBe('red fox');
    await fox1.fill('a fox by the river, 川');
    await fox1.press('Enter');
    const row = (file: string) => captions.getByRole('listitem').filter({ has: page.getByRole('textbox', { name: `Caption of ${file}` }) });
    const row1 = row('red_fox_1.png');
    await row1.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(readFileSync(path.join(dataset, 'red_fox_1.txt'), 'utf8')).toBe('a fox by the river, 川');
    expect(await row1.textContent()).toContain('.txt');
    await expect.poll(() => page.getByTestId('scan-summary').textContent()).toMatch(/2\s*with caption files\s*1\s*captioned from the file name/);

    // Leaving the field saves too.
    const fox0 = captions.getByRole('textbox', { name: 'Caption of red_fox_0.png' });
    await fox0.fill('a red fox asleep in the snow');
    await page.getByRole('textbox', { name: 'Dataset folder' }).click();
    await expect.poll(() => readFileSync(path.join(dataset, 'red_fox_0.txt'), 'utf8')).toBe('a red fox asleep in the snow');
    await row('red_fox_0.png').getByRole('status').filter({ hasText: 'Saved' }).waitFor();

    // A caption file that cannot be written (a folder stands in its place) gives a message on that row.
    mkdirSync(path.join(dataset, 'red_fox_2.txt', 'inner'), { recursive: true });
    const fox2 = captions.getByRole('textbox', { name: 'Caption of red_fox_2.png' });
    await fox2.fill('a third fox');
    await fox2.press('Enter');
    const alert = row('red_fox_2.png').getByRole('alert');
    await expect.poll(async () => (await alert.textContent().catch(() => '')) ?? '').toMatch(/Cannot save the caption of red_fox_2.png/);
    expect(await fox2.getAttribute('aria-invalid')).toBe('true');
    rmSync(path.join(dataset, 'red_fox_2.txt'), { recursive: true });
    await studio.screenshot('train-captions');
    expect(studio.pageErrors).toEqual([]);
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
    await run.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('Cancelled');
    const [cancelled] = await studio.backend.handlers['jobs.list']({ limit: 1 });
    expect(cancelled).toMatchObject({ kind: 'train', status: 'cancelled' });
    // Resume goes on from the last checkpoint.
    await run.getByRole('button', { name: 'Resume', exact: true }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(/Queued|Training|Finished/);
    await run.getByRole('button', { name: 'Cancel', exact: true }).click().catch(() => {});
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
