import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
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

  it('says in plain words why a file is not a model, with the detail one click away, and forgets it for another path', async () => {
    const { page } = studio;
    const bad = path.join(work, 'broken.safetensors');
    writeFileSync(bad, 'this is not a safetensors header');
    const field = page.getByRole('textbox', { name: 'Model path' });
    await field.fill(bad);
    await page.getByRole('button', { name: 'Import' }).click();
    const problem = page.getByTestId('model-problem');
    await expect.poll(async () => (await problem.textContent()) ?? '').toBe('This cannot be imported: not a model file: its header is not valid safetensors.');
    const detail = page.getByTestId('model-validation').locator('details');
    expect(await detail.getAttribute('open')).toBeNull();
    expect(await detail.locator('li').first().isVisible()).toBe(false);
    await detail.locator('summary').click();
    expect(await detail.locator('li').first().textContent()).toMatch(/^broken\.safetensors is not a valid safetensors file: /);
    await studio.screenshot('models-bad-file');
    await field.fill(path.join(work, 'another.safetensors'));
    expect(await page.getByTestId('model-validation').count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
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

  it('shows a LoRA\'s details with its trigger words, renames it and deletes it after a confirmation', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Models' }).click();
    const file = path.join(work, 'ink.safetensors');
    await saveSafetensors(
      file,
      {
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': tensor('float32', [4, 16], new Float32Array(64)),
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': tensor('float32', [16, 4], new Float32Array(64)),
      },
      {
        ss_output_name: 'ink_style',
        ss_tag_frequency: JSON.stringify({ '5_ink': { 'ink drawing': 5, monochrome: 2 } }),
        'ldm_studio.dataset': JSON.stringify({ images: 5, rejected: 0, sha256: 'x', trigger: 'zzink' }),
      },
    );
    await page.getByRole('textbox', { name: 'Model path' }).fill(file);
    await page.getByRole('button', { name: 'Import' }).click();
    await table().getByRole('row', { name: /ink/ }).waitFor();

    await page.getByRole('button', { name: 'Details of ink' }).click();
    const panel = page.getByRole('region', { name: 'Model details' });
    await expect.poll(async () => (await panel.getByTestId('trigger-words').textContent()) ?? '').toMatch(/zzink\s*ink drawing\s*monochrome/);
    const row = (await studio.backend.handlers['models.list']({ kind: 'lora' }))[0]!;
    expect(await panel.getByTestId('model-hash').textContent()).toBe(row.hash);
    expect(await panel.textContent()).toContain('Trained as');
    expect(await panel.getByRole('list', { name: 'Model files' }).textContent()).toContain(`${row.id}.safetensors`);
    await studio.screenshot('models-details');

    await panel.getByRole('textbox', { name: 'New name' }).fill('Ink lines');
    await panel.getByRole('button', { name: 'Rename' }).click();
    await table().getByRole('row', { name: /Ink lines/ }).waitFor();

    await panel.getByRole('button', { name: 'Delete…' }).click();
    const confirm = panel.getByRole('group', { name: 'Confirm deleting the model' });
    expect(await confirm.textContent()).toContain('trash');
    expect(await table().getByRole('row', { name: /Ink lines/ }).count()).toBe(1);
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => table().getByRole('row', { name: /Ink lines/ }).count()).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect(existsSync(path.join(studio.dataDir, 'trash', 'models', `${row.id}.safetensors`))).toBe(true);
    expect(await page.getByRole('region', { name: 'Model details' }).count()).toBe(0);
  });

  it('shows the shipped model\'s family and files and does not offer to delete it', async () => {
    const { page } = studio;
    await page.getByRole('button', { name: 'Details of probe' }).click();
    const panel = page.getByRole('region', { name: 'Model details' });
    await expect.poll(async () => (await panel.getByRole('list', { name: 'Model files' }).textContent()) ?? '').toContain('model.json');
    expect(await panel.textContent()).toContain('Model package');
    expect(await panel.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
    // At 1024×700 the table keeps its rows (the panel below does not squeeze it) and nothing runs off the side.
    await page.setViewportSize({ width: 1024, height: 700 });
    const fits = await page.evaluate(() => {
      const wrap = document.querySelector('.table-wrap') as HTMLElement;
      const view = document.querySelector('.models') as HTMLElement;
      return { rowsShown: wrap.scrollHeight <= wrap.clientHeight + 1, noSideScroll: view.scrollWidth <= view.clientWidth + 1 };
    });
    expect(fits).toEqual({ rowsShown: true, noSideScroll: true });
    await studio.screenshot('models-details-1024');
    expect(studio.pageErrors).toEqual([]);
  });
});
