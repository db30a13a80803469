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
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('900');
    await form.getByRole('button', { name: 'Generate' }).click();
    await page.getByRole('img', { name: 'Live preview of the generation in progress' }).waitFor({ timeout: 120_000 });
    const bar = page.getByRole('progressbar', { name: 'Generation progress' });
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/txt2img [1-9]\d*\/900/);
    await studio.screenshot('generate-progress');
    await form.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText(/Cancelled after 0 of 1 image/).waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/Idle/);
    const [job] = await studio.backend.handlers['jobs.list']({ limit: 1 });
    expect(job).toMatchObject({ status: 'cancelled', generationIds: [] });
    expect(studio.pageErrors).toEqual([]);
  }, 180_000);
});
