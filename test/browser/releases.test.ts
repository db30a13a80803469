// The paper's releases in the real renderer (Chromium against the real backend): a class-conditional model
// swaps the prompt for a searchable ImageNet class picker; "Upscale ×4" on a result is disabled with the
// reason until a super-resolution model is imported, then upscales the picture into the results.
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { launchStudio, type Studio } from './harness.ts';

describe('the paper\'s releases in Chromium', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  }, 120_000);
  afterAll(async () => {
    await studio?.close();
  });

  it('picks an ImageNet class instead of a prompt, generates it, and upscales the result ×4 once an SR model is there', async () => {
    const { page, backend } = studio;
    const dir = path.join(studio.dataDir, '..');
    await writeTinyRelease('cin', null, path.join(dir, 'cin256-v2.safetensors'));
    await writeTinyRelease('uncond', null, path.join(dir, 'celeba.safetensors'));
    const cin = await backend.handlers['models.import']({ path: path.join(dir, 'cin256-v2.safetensors') });
    const uncond = await backend.handlers['models.import']({ path: path.join(dir, 'celeba.safetensors') });
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => page.locator('#gen-model option').count(), { timeout: 30_000 }).toBe(3);

    // an unconditional model: no prompt at all
    await form.getByLabel('Model').selectOption(uncond.id);
    await expect.poll(() => form.getByTestId('no-prompt').textContent()).toMatch(/without a prompt/);
    expect(await form.getByRole('combobox', { name: 'Prompt' }).count()).toBe(0);

    // a class-conditional model: the class picker, searchable, replaces the prompt
    await form.getByLabel('Model').selectOption(cin.id);
    const search = form.getByRole('combobox', { name: 'Search classes' });
    await search.waitFor();
    expect(await form.getByRole('combobox', { name: 'Prompt' }).count()).toBe(0);
    await expect.poll(() => form.getByTestId('chosen-class').textContent()).toMatch(/No class chosen: search the 1,000 ImageNet classes/);
    await search.fill('panda');
    const list = form.getByRole('listbox', { name: 'ImageNet classes' });
    await expect.poll(() => list.getByRole('option').allTextContents()).toEqual(['387 lesser panda', '388 giant panda']);
    await list.getByRole('button', { name: /giant panda/ }).click();
    await expect.poll(() => form.getByTestId('chosen-class').textContent()).toMatch(/giant panda\s*#388/);
    await search.fill('388');
    await search.press('Enter');
    await expect.poll(() => form.getByTestId('chosen-class').textContent()).toMatch(/giant panda\s*#388/);

    await form.getByRole('spinbutton', { name: 'Steps' }).fill('2');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('32');
    await form.getByRole('spinbutton', { name: 'Height' }).fill('32');
    await form.getByRole('button', { name: 'Generate' }).click();
    const result = page.getByTestId('selected-result');
    await result.waitFor({ timeout: 170_000 });
    const made = await backend.handlers['history.search']({ query: 'panda', trashed: false, limit: 10, offset: 0 });
    expect(made.items.map((g) => [g.prompt, g.params.width])).toEqual([['giant panda', 32]]);

    // Upscale ×4: disabled, saying why, until a super-resolution model is imported
    const upscale = page.getByRole('region', { name: 'Results' }).getByTestId('upscale');
    expect(await upscale.isDisabled()).toBe(true);
    expect(await upscale.locator('..').getAttribute('title')).toMatch(/No super-resolution model is installed: import one \(such as the latent diffusion paper’s bsr_sr\)/);
    await writeTinyRelease('sr', null, path.join(dir, 'bsr_sr.safetensors'));
    await backend.handlers['models.import']({ path: path.join(dir, 'bsr_sr.safetensors') });
    await expect.poll(() => upscale.isEnabled(), { timeout: 15_000 }).toBe(true);
    expect(await upscale.locator('..').getAttribute('title')).toMatch(/Upscale ×4 with bsr_sr \(100 steps\)/);
    await upscale.click();
    await expect.poll(() => result.evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 120_000 }).toBe(128);
    const all = await backend.handlers['history.search']({ query: '', trashed: false, limit: 10, offset: 0 });
    expect(all.items.find((g) => g.kind === 'upscale')).toMatchObject({ parentId: made.items[0]!.id, params: { width: 128, height: 128 } });
    await studio.screenshot('generate-upscaled');
    expect(studio.pageErrors).toEqual([]);
  }, 300_000);

  const emojiClass = path.resolve('resources/models/emoji-ldm-32-class');
  it.skipIf(!existsSync(emojiClass))('offers a model\'s own class names: the shipped emoji-ldm-32-class lists the emoji subcategories', async () => {
    const { page, backend } = studio;
    const dir = path.join(studio.dataDir, '..', 'emoji-class');
    cpSync(emojiClass, dir, { recursive: true });
    const m = await backend.handlers['models.import']({ path: path.join(dir, 'emoji-ldm-32-class.safetensors') });
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => page.locator(`#gen-model option[value="${m.id}"]`).count(), { timeout: 30_000 }).toBe(1);
    await form.getByLabel('Model').selectOption(m.id);
    await expect.poll(() => form.getByTestId('chosen-class').textContent()).toMatch(/No class chosen: search the 98 classes/);
    const search = form.getByRole('combobox', { name: 'Search classes' });
    await search.fill('smiling');
    const list = form.getByRole('listbox', { name: 'Classes' });
    await expect.poll(() => list.getByRole('option').allTextContents()).toEqual(['31 face-smiling']);
    await list.getByRole('button', { name: /face-smiling/ }).click();
    await expect.poll(() => form.getByTestId('chosen-class').textContent()).toMatch(/face-smiling\s*#31/);
    expect(await form.getByRole('spinbutton', { name: 'Width' }).inputValue()).toBe('32');
    expect(studio.pageErrors).toEqual([]);
  }, 120_000);
});

