// A diffusion model's own settings in the Models view's details: VAE, prediction type and "Low memory"
// weights, each saved in the registry (models.setVae / setPrediction / setWeights) as it is chosen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

describe('model settings in Chromium against the real backend', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Models' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('saves the weights and prediction type chosen, and offers the model\'s own VAE', async () => {
    const { page } = studio;
    await page.getByRole('button', { name: 'Details of probe' }).click();
    const settings = page.getByRole('region', { name: 'Model details' }).getByRole('group', { name: 'Model settings' });
    const probe = async () => (await studio.backend.handlers['models.list']({ kind: 'ldm' }))[0]!;

    const vae = settings.getByRole('combobox', { name: 'VAE' });
    expect(await vae.inputValue()).toBe('');
    expect(await vae.locator('option').allTextContents()).toEqual(["The model's own"]);

    const weights = settings.getByRole('combobox', { name: 'Weights' });
    expect(await weights.inputValue()).toBe('fp32');
    await weights.selectOption('int8');
    await expect.poll(async () => (await probe()).weights).toBe('int8');

    const prediction = settings.getByRole('combobox', { name: 'Prediction type' });
    expect(await prediction.locator('option').first().textContent()).toBe('As the file says (ε)');
    await prediction.selectOption('v_prediction');
    await expect.poll(async () => (await probe()).prediction).toBe('v_prediction');
    // The table says what the model now predicts; back to what the file says.
    const panel = page.getByRole('region', { name: 'Model details' });
    await expect.poll(async () => (await panel.textContent()) ?? '').toMatch(/predicts v/);
    await prediction.selectOption('');
    await expect.poll(async () => (await probe()).prediction ?? null).toBeNull();
    await expect.poll(async () => (await panel.textContent()) ?? '').toMatch(/predicts ε/);
    expect(await weights.inputValue()).toBe('int8');
    await studio.screenshot('models-settings');
    expect(studio.pageErrors).toEqual([]);
  });
});
