import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { writePngText } from '../../electron/engine/io/png-metadata.ts';
import { writeTinyPackage } from '../services/helpers.ts';
import { launchStudio, type Studio } from './harness.ts';

describe('generate in Chromium against the real backend', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('opens with the model’s own defaults, warns about far sizes, and resets to another model’s keeping the prompt', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    // The probe package says ddim, 4 steps, guidance 1, 16×16 (model.json sampling): nothing else may.
    await expect.poll(() => form.getByRole('spinbutton', { name: 'Steps' }).inputValue(), { timeout: 30_000 }).toBe('4');
    expect(await form.getByRole('spinbutton', { name: 'Width' }).inputValue()).toBe('16');
    expect(await form.getByRole('spinbutton', { name: 'Height' }).inputValue()).toBe('16');
    expect(await form.getByRole('combobox', { name: 'Sampler' }).inputValue()).toBe('ddim');
    expect(await form.getByRole('slider', { name: 'Guidance scale' }).inputValue()).toBe('1');
    const option = (await page.locator('#gen-model option').allTextContents()).join('\n');
    expect(option).toMatch(/probe · Model package · txt2img · 16×16 · \d+(\.\d)? (KB|MB)/);
    await expect.poll(() => form.getByTestId('size-warning').count()).toBe(0);
    await form.getByRole('spinbutton', { name: 'Width' }).fill('512');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('512');
    await expect.poll(() => form.getByTestId('size-warning').textContent()).toMatch(/trained at 16×16\. 512×512 is 1024× its pixels/);
    await studio.screenshot('generate-size-warning');

    // A second model with other defaults: picking it resets the settings, not the prompt.
    const pkg = path.join(studio.dataDir, '..', 'wide-model');
    await writeTinyPackage(pkg);
    const manifest = JSON.parse(readFileSync(path.join(pkg, 'model.json'), 'utf8'));
    manifest.sampling = { sampler: 'euler', steps: 7, guidance: 2.5, width: 24, height: 32 };
    writeFileSync(path.join(pkg, 'model.json'), JSON.stringify(manifest));
    const wide = await studio.backend.handlers['models.import']({ path: pkg, name: 'Wide model' });
    await form.getByRole('combobox', { name: 'Prompt' }).fill('a cat');
    await expect.poll(() => page.locator('#gen-model option').count()).toBe(2);
    await form.getByLabel('Model').selectOption(wide.id);
    await expect.poll(() => form.getByRole('spinbutton', { name: 'Steps' }).inputValue()).toBe('7');
    expect(await form.getByRole('spinbutton', { name: 'Width' }).inputValue()).toBe('24');
    expect(await form.getByRole('spinbutton', { name: 'Height' }).inputValue()).toBe('32');
    expect(await form.getByRole('combobox', { name: 'Sampler' }).inputValue()).toBe('euler');
    expect(await form.getByRole('combobox', { name: 'Prompt' }).inputValue()).toBe('a cat');
    await form.getByLabel('Model').selectOption('embedded:probe');
    await expect.poll(() => form.getByRole('spinbutton', { name: 'Steps' }).inputValue()).toBe('4');
    expect(studio.pageErrors).toEqual([]);
  }, 60_000);

  it('generates with Ctrl+Enter, shows the result, and records it in the history', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => form.getByLabel('Model').inputValue(), { timeout: 30_000 }).not.toBe('');
    await form.getByRole('combobox', { name: 'Prompt' }).fill('a red fox');
    // The model's tokenizer counts the prompt as the text encoder will read it.
    await expect.poll(() => form.getByTestId('token-count').textContent(), { timeout: 15_000 }).toMatch(/^\d+\/\d+$/);
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('3');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('32');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('32');
    await form.getByRole('radio', { name: 'Fixed' }).click();
    await form.getByLabel('Seed value').fill('1234');
    await form.getByRole('combobox', { name: 'Prompt' }).press('Control+Enter');
    const result = page.getByTestId('selected-result');
    // The first job starts a worker process and loads the model: slow on a busy 2-core machine.
    await result.waitFor({ timeout: 170_000 });
    expect(await result.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await result.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight])).toEqual([32, 32]);
    await expect.poll(() => page.getByRole('region', { name: 'Results' }).textContent()).toContain('seed 1234');
    await studio.screenshot('generate');

    const found = await studio.backend.handlers['history.search']({ query: 'fox', trashed: false, limit: 10, offset: 0 });
    expect(found.items.map((g) => [g.prompt, g.params.seed, g.params.width])).toEqual([['a red fox', 1234, 32]]);
  }, 180_000);

  it('suggests prompts from the history', async () => {
    const { page } = studio;
    const prompt = page.getByRole('combobox', { name: 'Prompt' });
    await prompt.fill('a r');
    const list = page.getByRole('listbox', { name: 'Prompts from the history' });
    await list.waitFor();
    await prompt.press('ArrowDown');
    await prompt.press('Enter');
    expect(await prompt.inputValue()).toBe('a red fox');
  });

  it('sends the result to the canvas', async () => {
    const { page } = studio;
    await page.getByRole('button', { name: 'Send to canvas' }).click();
    await expect.poll(() => page.getByTestId('canvas-info').textContent()).toBe('32×32 · mask 0%');
    expect(studio.pageErrors).toEqual([]);
  });

  it('sends a result to img2img and makes a picture from it', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Generate' }).click();
    const form = page.getByRole('form', { name: 'Generation parameters' });
    const [source] = (await studio.backend.handlers['history.search']({ query: 'fox', trashed: false, limit: 1, offset: 0 })).items;
    await page.getByRole('button', { name: 'Send to img2img' }).click();
    await form.getByRole('img', { name: /Init picture/ }).waitFor();
    expect(await form.getByRole('radio', { name: 'Image to image' }).getAttribute('aria-checked')).toBe('true');
    expect(await form.getByRole('spinbutton', { name: 'Width' }).inputValue()).toBe('32');
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('2');
    await form.getByRole('slider', { name: 'Strength' }).fill('0.5');
    await form.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(async () => (await studio.backend.handlers['history.search']({ query: '', trashed: false, limit: 10, offset: 0 })).items.length, { timeout: 60_000 }).toBe(2);
    const [made] = (await studio.backend.handlers['history.search']({ query: '', trashed: false, limit: 1, offset: 0 })).items;
    expect(made).toMatchObject({ kind: 'img2img', parentId: source!.id, params: { strength: 0.5, width: 32, height: 32 } });
    await studio.screenshot('generate-img2img');
  }, 90_000);

  it('views results large: fit or 1:1, arrow keys through them, Esc closes', async () => {
    const { page } = studio;
    await page.getByRole('button', { name: 'Open the result viewer' }).click();
    const viewer = page.getByRole('dialog', { name: 'Result viewer' });
    await viewer.waitFor();
    expect(await viewer.getByTestId('viewer-position').textContent()).toBe('1 / 2');
    await page.keyboard.press('ArrowRight');
    expect(await viewer.getByTestId('viewer-position').textContent()).toBe('2 / 2');
    await viewer.getByRole('radio', { name: '1:1' }).click();
    const img = viewer.getByTestId('viewer-image');
    expect(await img.evaluate((el: HTMLImageElement) => el.getBoundingClientRect().width)).toBe(32);
    expect(await img.evaluate((el) => getComputedStyle(el).imageRendering)).toBe('pixelated');
    expect(await viewer.getByRole('link', { name: 'Download' }).getAttribute('download')).toMatch(/\.png$/);
    await studio.screenshot('generate-viewer');
    await viewer.getByRole('radio', { name: '1:1' }).press('Escape');
    await expect.poll(() => viewer.count()).toBe(0);
  });

  it('reads a dropped picture’s parameters (PNG Info) and uses them', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await form.getByRole('radio', { name: 'Text to image' }).click();
    const plain = await sharp({ create: { width: 24, height: 24, channels: 3, background: '#3366cc' } }).png().toBuffer();
    const text = 'a blue square, flat\nNegative prompt: blurry\nSteps: 6, Sampler: Euler, CFG scale: 2.5, Seed: 424242, Size: 32x48, Model: other';
    const png = Buffer.from(writePngText(plain, { parameters: text }));
    await form.evaluate((el, b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'made-elsewhere.png', { type: 'image/png' }));
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, png.toString('base64'));
    const info = page.getByRole('region', { name: 'PNG Info' });
    await expect.poll(() => info.getByTestId('png-info-fields').textContent(), { timeout: 15_000 }).toContain('a blue square, flat');
    expect(await info.textContent()).toContain('424242');
    await studio.screenshot('generate-png-info');
    await info.getByRole('button', { name: 'Use these settings' }).click();
    expect(await form.getByRole('combobox', { name: 'Prompt' }).inputValue()).toBe('a blue square, flat');
    expect(await form.getByRole('spinbutton', { name: 'Steps' }).inputValue()).toBe('6');
    expect(await form.getByRole('combobox', { name: 'Sampler' }).inputValue()).toBe('euler');
    expect(await form.getByRole('spinbutton', { name: 'Height' }).inputValue()).toBe('48');
    expect(await form.getByLabel('Seed value').inputValue()).toBe('424242');
    expect(await info.count()).toBe(0);
  });

  it('shows the queue where the user looks: what a job waits for, with a cancel for each', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    const { submittedSpec } = await import('../../electron/api/jobs.ts');
    const blocker = await studio.backend.handlers['jobs.submit']({
      spec: submittedSpec.parse({ kind: 'txt2img', modelId: 'embedded:probe', prompt: 'blocker', sampler: 'ddim', steps: 500, batchCount: 50, width: 16, height: 16 }),
    });
    await form.getByRole('radio', { name: 'Text to image' }).click();
    await form.getByRole('combobox', { name: 'Prompt' }).fill('after the blocker');
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('2');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('16');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('16');
    await form.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.getByTestId('queue-wait').textContent(), { timeout: 30_000 }).toMatch(/Waiting for the 1 job\(s\) ahead of it/);
    const queue = page.getByRole('list', { name: 'Queue' });
    expect(await queue.getByRole('listitem').allTextContents()).toEqual([expect.stringContaining('blocker'), expect.stringContaining('after the blocker')]);
    await studio.screenshot('generate-queue');
    await queue.getByRole('button', { name: /Cancel Text to image “blocker”/ }).click();
    await expect.poll(async () => (await studio.backend.handlers['jobs.get']({ id: blocker.id })).status).toBe('cancelled');
    await expect.poll(() => page.getByRole('region', { name: 'Results' }).textContent(), { timeout: 60_000 }).toContain('after the blocker');
    await expect.poll(() => page.getByTestId('queue-wait').count()).toBe(0);
  }, 120_000);

  it('shows live previews, progress and job activity, and cancels', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Generate' }).click();
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await form.getByRole('radio', { name: 'Text to image' }).click();
    // A batch far too long to finish on its own (50 × 500 steps; DDIM's leading spacing allows at most 500): the cancel below can never race the job's end.
    await form.getByRole('combobox', { name: 'Sampler' }).selectOption('ddim');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('16');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('16');
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('500');
    await form.getByRole('spinbutton', { name: 'Batch count' }).fill('50');
    const cancelButton = form.getByRole('button', { name: 'Cancel' });
    expect(await cancelButton.isDisabled()).toBe(true);
    await form.getByRole('button', { name: 'Generate' }).click();
    const preview = page.getByRole('img', { name: 'Live preview of the generation in progress' });
    // A refused or failed job shows its reason in the form: fail with it rather than time out.
    await preview.or(form.getByRole('alert')).first().waitFor({ timeout: 120_000 });
    expect(await form.getByRole('alert').count(), (await form.getByRole('alert').allTextContents()).join(' ')).toBe(0);
    const bar = page.getByRole('progressbar', { name: 'Generation progress' });
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/Text to image [1-9]\d*\/\d+/);
    await studio.screenshot('generate-progress');
    // The same button element before and after more progress events: it is never re-created.
    const handle = await cancelButton.elementHandle();
    const stepNow = Number(await bar.getAttribute('aria-valuenow'));
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(stepNow);
    expect(await handle!.evaluate((el) => el.isConnected)).toBe(true);
    await cancelButton.click();
    await page.getByText(/Cancelled after \d+ of 50 image/).waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/Idle/);
    expect(await cancelButton.isDisabled()).toBe(true);
    const [job] = await studio.backend.handlers['jobs.list']({ limit: 1 });
    expect(job!.status).toBe('cancelled');
    expect(job!.generationIds.length).toBeLessThan(50);
    await form.getByRole('spinbutton', { name: 'Batch count' }).fill('1');
    expect(studio.pageErrors).toEqual([]);
  }, 180_000);
});
