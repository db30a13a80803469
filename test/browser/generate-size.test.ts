// Generate refuses a size the model cannot draw (sides off its size step) where the size is typed, says
// which sizes it can draw, submits nothing, and the message goes when the size is fixed.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

describe('Generate: sizes from the model', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('says the sizes the model can draw instead of queueing a job that would fail', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => form.getByRole('spinbutton', { name: 'Width' }).inputValue(), { timeout: 30_000 }).toBe('16');
    // The probe model: autoencoder f = 8, the UNet halves once: sides in steps of 16 px.
    expect(await form.getByRole('spinbutton', { name: 'Width' }).getAttribute('step')).toBe('16');
    await form.getByRole('combobox', { name: 'Prompt' }).fill('a red fox');
    await form.getByRole('spinbutton', { name: 'Width' }).fill('40');
    const problem = form.getByTestId('size-error');
    await expect.poll(() => problem.textContent()).toBe('This model draws sizes in steps of 16 px: use 32×16 or 48×16.');
    expect(await problem.getAttribute('role')).toBe('alert');
    await form.getByRole('button', { name: 'Generate', exact: true }).click();
    await studio.screenshot('generate-size-error');
    expect(await studio.backend.handlers['jobs.list']({ limit: 10 })).toEqual([]);
    await form.getByRole('spinbutton', { name: 'Width' }).fill('32');
    await expect.poll(() => problem.count()).toBe(0);
    await form.getByRole('button', { name: 'Generate', exact: true }).click();
    await expect.poll(async () => (await studio.backend.handlers['jobs.list']({ limit: 10 })).map((j) => j.spec.kind === 'txt2img' && j.spec.width)).toEqual([32]);
    await page.getByTestId('selected-result').waitFor({ timeout: 120_000 });
    // The status bar says what the job was estimated to need before it started (services/admission.ts).
    expect(await page.getByTestId('memory-estimate').textContent()).toMatch(/^32x\d+ txt2img job needs about \d+\.\d GiB of memory \(\d+\.\d GiB free of \d+\.\d GiB\)$/);

    // img2img draws at its init picture's own size: a picture off the step is named, with what to do.
    await form.getByRole('radio', { name: 'Image to image' }).click();
    const drop = (png: Buffer) =>
      form.evaluate((el, b64) => {
        const dt = new DataTransfer();
        dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'init.png', { type: 'image/png' }));
        el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, png.toString('base64'));
    await drop(await sharp({ create: { width: 40, height: 40, channels: 3, background: '#3366cc' } }).png().toBuffer());
    await expect.poll(() => problem.textContent()).toBe('This model draws sizes in steps of 16 px and the init picture is 40×40: scale or crop it to 32×32 or 48×48 first.');
    await form.getByRole('button', { name: 'Generate', exact: true }).click();
    expect(await studio.backend.handlers['jobs.list']({ limit: 10 })).toHaveLength(1);
    await drop(await sharp({ create: { width: 48, height: 32, channels: 3, background: '#3366cc' } }).png().toBuffer());
    await expect.poll(() => problem.count()).toBe(0);
    expect(studio.pageErrors).toEqual([]);
  }, 150_000);
});
