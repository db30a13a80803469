// "Upscale ×4 after generating" in the real renderer (Chromium against the real backend): disabled with
// the reason until a super-resolution model is installed, then ticked by default for a small model (the
// probe draws 16²), so each picture made is followed by an upscale job whose ×4 picture joins the
// results in front of its original and is a child of it in the History; unticked, pictures stay as made.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { launchStudio, type Studio } from './harness.ts';

describe('Generate: Upscale ×4 after generating', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  }, 120_000);
  afterAll(async () => {
    await studio?.close();
  });

  it('is off with the reason without a super-resolution model; on by default for a 16² model once one is installed, and upscales each result', async () => {
    const { page, backend } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    const box = form.getByTestId('upscale-after');
    await box.waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('#gen-model option').count(), { timeout: 30_000 }).toBe(1);
    expect([await box.isDisabled(), await box.isChecked()]).toEqual([true, false]);
    expect(await box.locator('..').getAttribute('title')).toMatch(/No super-resolution model is installed/);

    const file = path.join(studio.dataDir, '..', 'emoji-sr.safetensors');
    await writeTinyRelease('sr-kl', null, file);
    await backend.handlers['models.import']({ path: file });
    await expect.poll(() => box.isEnabled(), { timeout: 15_000 }).toBe(true);
    expect(await box.isChecked()).toBe(true);
    expect(await box.locator('..').getAttribute('title')).toMatch(/Upscale each picture ×4 with emoji-sr/);

    await form.getByRole('combobox', { name: 'Prompt' }).fill('a red fox');
    await form.getByRole('spinbutton', { name: 'Steps' }).fill('2');
    await form.getByRole('button', { name: 'Generate' }).click();
    const result = page.getByTestId('selected-result');
    await expect.poll(() => result.evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0), { timeout: 120_000 }).toBe(64);
    const strip = page.getByRole('list', { name: 'Results of this session' }).getByRole('listitem');
    expect(await strip.count()).toBe(2);
    expect(await page.locator('.cap-prompt').textContent()).toBe('Upscale ×4 of “a red fox”');
    const all = await backend.handlers['history.search']({ query: '', trashed: false, limit: 10, offset: 0 });
    const original = all.items.find((g) => g.kind === 'txt2img')!;
    expect(original.params.width).toBe(16);
    expect(all.items.find((g) => g.kind === 'upscale')).toMatchObject({ parentId: original.id, params: { width: 64, height: 64, seed: original.params.seed } });
    await studio.screenshot('generate-upscale-after');

    // unticked (the choice stays for the session): the picture as made, no upscale job
    await box.uncheck();
    await form.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => strip.count(), { timeout: 60_000 }).toBe(3);
    await expect.poll(() => result.evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0)).toBe(16);
    await page.waitForTimeout(500);
    const jobs = await backend.handlers['jobs.list']({ limit: 20 });
    expect(jobs.filter((j) => j.kind === 'upscale').length).toBe(1);
    expect(await box.isChecked()).toBe(false);
    expect(studio.pageErrors).toEqual([]);
  }, 240_000);
});
