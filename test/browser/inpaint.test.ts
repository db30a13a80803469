import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submittedSpec, type Job } from '../../electron/api/jobs.ts';
import { launchStudio, type Studio } from './harness.ts';

async function pixels(base64: string, channels: 1 | 3): Promise<Buffer> {
  const img = sharp(Buffer.from(base64, 'base64')).removeAlpha();
  return (channels === 1 ? img.greyscale() : img).raw().toBuffer();
}

describe('inpainting from the canvas against the real backend', () => {
  let studio: Studio;
  let sourceId: string;
  let editId: string;
  beforeAll(async () => {
    studio = await launchStudio();
    const h = studio.backend.handlers;
    const [model] = await h['models.list']({});
    const done = new Promise<Job>((resolve) =>
      studio.backend.on('jobs.updated', (j) => {
        if (['completed', 'failed', 'cancelled'].includes(j.status)) resolve(j);
      }),
    );
    await h['jobs.submit']({
      // Through the contract's parser, as a client's request would be: every other field takes its default.
      spec: submittedSpec.parse({ kind: 'txt2img', modelId: model!.id, prompt: 'a red fox', steps: 3, guidance: 1, seed: 7, width: 64, height: 64 }),
    });
    const job = await done;
    expect(job.status).toBe('completed');
    sourceId = job.generationIds[0]!;
  }, 180_000);
  afterAll(async () => {
    await studio?.close();
  });

  it('paints a mask with the mouse, inpaints, and leaves every unmasked pixel as it was', async () => {
    const { page } = studio;
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('button', { name: 'History' }).click();
    await page.getByRole('button', { name: 'a red fox', exact: true }).click();
    await page.getByRole('complementary', { name: 'Image details' }).getByRole('button', { name: 'Open in canvas' }).click();
    await expect.poll(() => page.getByTestId('canvas-info').textContent()).toBe('64×64 · mask 0%');

    // A stroke across the middle third of the image, at the current zoom.
    await page.getByRole('slider', { name: 'Brush size' }).fill('16');
    const box = (await page.getByTestId('canvas-stage').boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const zoom = parseInt((await page.locator('output.zoom').textContent())!) / 100;
    await page.mouse.move(cx - 12 * zoom, cy);
    await page.mouse.down();
    await page.mouse.move(cx + 12 * zoom, cy, { steps: 8 });
    await page.mouse.up();
    await expect.poll(async () => Number(/mask (\d+)%/.exec((await page.getByTestId('canvas-info').textContent())!)![1])).toBeGreaterThan(5);

    await page.getByRole('textbox', { name: 'Inpaint prompt' }).fill('a cat');
    await page.getByRole('spinbutton', { name: 'Steps' }).fill('3');
    await page.getByRole('button', { name: 'Inpaint masked area' }).click();
    await page.getByText('Inpainting finished').waitFor({ timeout: 120_000 });
    await studio.screenshot('canvas-inpainted');

    const found = await studio.backend.handlers['history.search']({ query: '', kind: 'inpaint', trashed: false, limit: 5, offset: 0 });
    expect(found.items).toHaveLength(1);
    const edit = found.items[0]!;
    expect(edit.parentId).toBe(sourceId);
    const h = studio.backend.handlers;
    const before = await pixels((await h['gallery.image']({ id: sourceId, variant: 'image' })).base64, 3);
    const after = await pixels((await h['gallery.image']({ id: edit.id, variant: 'image' })).base64, 3);
    const mask = await pixels((await h['gallery.image']({ id: edit.id, variant: 'mask' })).base64, 1);
    expect(after.length).toBe(before.length);
    let outside = 0;
    let changedInside = 0;
    for (let i = 0; i < mask.length; i++) {
      const same = before[i * 3] === after[i * 3] && before[i * 3 + 1] === after[i * 3 + 1] && before[i * 3 + 2] === after[i * 3 + 2];
      if (mask[i] === 0) {
        outside++;
        if (!same) throw new Error(`pixel ${i % 64},${Math.floor(i / 64)} outside the mask changed`);
      } else if (mask[i]! > 128 && !same) changedInside++;
    }
    expect(outside).toBeGreaterThan(64 * 64 * 0.5);
    expect(changedInside).toBeGreaterThan(0);

    // The canvas now compares before and after; moving the divider left shows more of the result.
    expect(await page.getByRole('button', { name: 'Before/after' }).getAttribute('aria-pressed')).toBe('true');
    const stage = page.getByTestId('canvas-stage');
    const sbox = (await stage.boundingBox())!;
    const z = parseInt((await page.locator('output.zoom').textContent())!) / 100;
    const left = (sbox.width - 64 * z) / 2;
    const strip = () =>
      stage.evaluate((c: HTMLCanvasElement, r) => Array.from(c.getContext('2d')!.getImageData(r.x, r.y, r.w, 3).data), {
        x: Math.round(left + 0.28 * 64 * z),
        y: Math.round(sbox.height / 2 - 1),
        w: Math.round(0.18 * 64 * z),
      });
    const beforeSide = await strip();
    await page.mouse.click(sbox.x + left + 0.2 * 64 * z, sbox.y + sbox.height / 2 + 20 * z);
    const afterSide = await strip();
    expect(afterSide.some((v, i) => v !== beforeSide[i])).toBe(true);

    // The mask and its undo history stay: another try is one click, and tries can be flipped through.
    expect(await page.getByTestId('canvas-info').textContent()).toMatch(/^64×64 · mask [1-9]\d*%$/);
    expect(await page.getByTestId('try-position').textContent()).toMatch(/^Try 1 of 1 · seed \d+$/);
    await page.getByRole('button', { name: 'Again with another seed' }).click();
    await expect.poll(() => page.getByTestId('try-position').textContent(), { timeout: 120_000 }).toMatch(/^Try 2 of 2/);
    const tries = await studio.backend.handlers['history.search']({ query: '', kind: 'inpaint', trashed: false, limit: 5, offset: 0 });
    expect(tries.items).toHaveLength(2);
    expect(new Set(tries.items.map((g) => g.params.seed)).size).toBe(2);
    await page.getByRole('button', { name: 'Previous try' }).click();
    expect(await page.getByTestId('try-position').textContent()).toMatch(/^Try 1 of 2/);
    await studio.screenshot('canvas-tries');
    await page.getByRole('button', { name: 'Keep this one' }).click();
    await expect.poll(() => page.getByTestId('canvas-info').textContent()).toBe('64×64 · mask 0%');
    // The kept result is in the history already: saving it makes no second copy.
    await page.getByRole('button', { name: 'Save to gallery' }).click();
    await page.getByText('already in the history').waitFor();
    expect((await studio.backend.handlers['history.search']({ query: '', kind: 'upload', trashed: false, limit: 5, offset: 0 })).total).toBe(0);
    expect(studio.pageErrors).toEqual([]);
    editId = edit.id;
  }, 300_000);

  it('outpaints: extends the canvas to the right and keeps the original pixels', async () => {
    const { page } = studio;
    await page.getByLabel('Extend by').selectOption('32');
    // "Fill the new border right away" (on by default): one click extends and inpaints the border.
    expect(await page.getByRole('checkbox', { name: 'Fill the new border right away' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Extend right' }).click();
    await expect.poll(() => page.getByTestId('canvas-info').textContent()).toBe('96×64 · mask 33%');
    await page.getByRole('button', { name: 'Keep this one' }).click({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('canvas-info').textContent()).toBe('96×64 · mask 0%');
    const found = await studio.backend.handlers['history.search']({ query: '', kind: 'inpaint', trashed: false, limit: 5, offset: 0 });
    const out = found.items.find((g) => g.params.width === 96)!;
    expect(out.params.height).toBe(64);
    // The grown canvas went as raw bytes, yet the result names the inpainted image it came from.
    expect(out.parentId).toBe(editId);
    const h = studio.backend.handlers;
    const prev = await pixels((await h['gallery.image']({ id: editId, variant: 'image' })).base64, 3);
    const next = await pixels((await h['gallery.image']({ id: out.id, variant: 'image' })).base64, 3);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        for (let c = 0; c < 3; c++) {
          if (prev[(y * 64 + x) * 3 + c] !== next[(y * 96 + x) * 3 + c]) throw new Error(`original pixel ${x},${y} changed`);
        }
      }
    }
    await studio.screenshot('canvas-outpainted');
    expect(studio.pageErrors).toEqual([]);
  }, 180_000);

  it('shows the provenance of an edit in the history: parent image and mask', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'History' }).click();
    const tiles = page.getByRole('list', { name: 'History images' }).getByRole('button');
    await expect.poll(() => tiles.count()).toBe(4);
    // Newest first: the outpaint (its parent is the kept inpaint), the second try, the first, the source.
    await tiles.nth(1).click();
    const detail = page.getByRole('complementary', { name: 'Image details' });
    await detail.getByRole('img', { name: 'Mask used for this edit' }).waitFor();
    await detail.getByRole('img', { name: 'Parent of this edit' }).waitFor();
    expect(await detail.textContent()).toContain('Inpaint');
    // Provenance says what made it, not a job id.
    expect(await detail.getByTestId('provenance').textContent()).toMatch(/^Inpaint with probe, .+, 3 steps$/);
    await studio.screenshot('history-detail');
    // The parent is one click away.
    await detail.getByRole('button', { name: /Parent/ }).click();
    await expect.poll(async () => (await detail.textContent()) ?? '').toContain('Text to image');
    expect(await detail.getByRole('img', { name: 'Mask used for this edit' }).count()).toBe(0);

    // Reuse puts every parameter of that generation back into Generate.
    await detail.getByRole('button', { name: 'Reuse' }).click();
    const form = page.getByRole('form', { name: 'Generation parameters' });
    await expect.poll(() => form.getByRole('combobox', { name: 'Prompt' }).inputValue()).toBe('a red fox');
    expect(await form.getByRole('spinbutton', { name: 'Width' }).inputValue()).toBe('64');
    expect(await form.getByRole('spinbutton', { name: 'Steps' }).inputValue()).toBe('3');
    expect(await form.getByRole('radio', { name: 'Fixed' }).getAttribute('aria-checked')).toBe('true');
    expect(await form.getByLabel('Seed value').inputValue()).toBe('7');
    expect(studio.pageErrors).toEqual([]);
  });
});
