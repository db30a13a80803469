import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyPackage } from '../services/helpers.ts';
import { launchStudio, type Studio } from './harness.ts';

describe('models in Chromium against the real backend', () => {
  let studio: Studio;
  let work: string;
  beforeAll(async () => {
    studio = await launchStudio();
    work = path.join(studio.dataDir, '..', 'incoming');
    mkdirSync(work);
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Models' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  const table = () => studio.page.getByRole('table', { name: 'Installed models' });

  it('lists the installed models with kind, size, hash and licence', async () => {
    await table().waitFor();
    const row = table().getByRole('row', { name: /probe/ });
    const text = await row.textContent();
    expect(text).toContain('ldm');
    expect(text).toContain('embedded');
    expect(text).toContain('Apache-2.0');
    expect(text).toMatch(/[0-9a-f]{10}/);
    expect(text).toMatch(/\d+(\.\d)? (KB|MB)/);
    expect(text).toContain('Model package');
    expect(text).toContain('txt2img');
    expect(text).toContain('16×16');
  });

  it('explains why a file cannot be imported', async () => {
    const { page } = studio;
    const ckpt = path.join(work, 'old.ckpt');
    writeFileSync(ckpt, 'not really a pickle');
    await page.getByRole('textbox', { name: 'Model path' }).fill(ckpt);
    await page.getByRole('button', { name: 'Validate' }).click();
    const verdict = page.getByTestId('model-validation').or(page.getByRole('alert'));
    await expect.poll(async () => (await verdict.first().textContent()) ?? '').toMatch(/pickle|\.ckpt|safetensors/i);
    await page.getByRole('textbox', { name: 'Model path' }).fill(path.join(work, 'missing'));
    await page.getByRole('button', { name: 'Import' }).click();
    await expect.poll(async () => (await page.getByRole('alert').first().textContent()) ?? '').toMatch(/missing|not (found|exist)|no such/i);
  });

  it('imports a model package and offers it in the Generate picker', async () => {
    const { page } = studio;
    const pkg = path.join(work, 'fox-model');
    await writeTinyPackage(pkg);
    await page.getByRole('textbox', { name: 'Model path' }).fill(pkg);
    await page.getByRole('textbox', { name: 'Name (optional)' }).fill('Fox model');
    await page.getByRole('button', { name: 'Validate' }).click();
    await expect.poll(async () => (await page.getByTestId('model-validation').textContent()) ?? '').toContain('Looks good');
    await page.getByRole('button', { name: 'Import' }).click();
    await table().getByRole('row', { name: /Fox model/ }).waitFor();
    await studio.screenshot('models');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Generate' }).click();
    const options = await page.locator('#gen-model option').allTextContents();
    expect(options.some((o) => o.startsWith('Fox model · Model package · txt2img · 16×16'))).toBe(true);
    expect(studio.pageErrors).toEqual([]);
  });
});
