import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

describe('generate in Chromium against the real backend', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('generates with Ctrl+Enter, shows the result, and records it in the history', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => form.getByLabel('Model').inputValue()).not.toBe('');
    await form.getByRole('combobox', { name: 'Prompt' }).fill('a red fox');
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

  it('shows live previews, progress and job activity, and cancels', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Generate' }).click();
    const form = page.getByRole('form', { name: 'Generation parameters' });
    // A batch far too long to finish on its own: the cancel below can never race the job's end.
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('1000');
    await form.getByRole('spinbutton', { name: 'Batch count' }).fill('50');
    const cancelButton = form.getByRole('button', { name: 'Cancel' });
    expect(await cancelButton.isDisabled()).toBe(true);
    await form.getByRole('button', { name: 'Generate' }).click();
    await page.getByRole('img', { name: 'Live preview of the generation in progress' }).waitFor({ timeout: 120_000 });
    const bar = page.getByRole('progressbar', { name: 'Generation progress' });
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/txt2img [1-9]\d*\/\d+/);
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
