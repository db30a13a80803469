import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

/** A 256×192 test image: a horizontal gradient with a blue square, made here. */
async function testPng(): Promise<Buffer> {
  const w = 256;
  const h = 192;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const inSquare = x > 96 && x < 160 && y > 64 && y < 128;
      px[i] = inSquare ? 30 : x;
      px[i + 1] = inSquare ? 60 : 120;
      px[i + 2] = inSquare ? 220 : 255 - x;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

describe('canvas in Chromium', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  });
  afterAll(async () => {
    await studio?.close();
  });

  const info = () => studio.page.getByTestId('canvas-info').textContent();

  it('shows what to do when empty, then opens an image file', async () => {
    const { page } = studio;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Canvas' }).click();
    await page.getByText('No image on the canvas').waitFor();
    await page.locator('input[type=file]').first().setInputFiles({ name: 'test.png', mimeType: 'image/png', buffer: await testPng() });
    await expect.poll(info).toBe('256×192 · mask 0%');
    // The brush starts at an eighth of the picture's shorter side.
    expect(await page.getByRole('slider', { name: 'Brush size' }).inputValue()).toBe('24');
  });

  it('paints and erases the mask with the mouse; undo and redo with the keyboard', async () => {
    const { page } = studio;
    const stage = page.getByTestId('canvas-stage');
    const box = (await stage.boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.getByRole('slider', { name: 'Brush size' }).fill('120');
    await page.mouse.move(cx - 150, cy);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(cx - 150 + i * 30, cy);
    await page.mouse.up();
    const painted = Number(/mask (\d+)%/.exec((await info())!)![1]);
    expect(painted).toBeGreaterThan(10);

    await page.getByRole('radio', { name: /Eraser/ }).click();
    await page.mouse.move(cx, cy - 100);
    await page.mouse.down();
    await page.mouse.move(cx, cy + 100, { steps: 10 });
    await page.mouse.up();
    const erased = Number(/mask (\d+)%/.exec((await info())!)![1]);
    expect(erased).toBeLessThan(painted);

    await stage.focus();
    await page.keyboard.press('Control+z');
    await expect.poll(info).toBe(`256×192 · mask ${painted}%`);
    await page.keyboard.press('Control+z');
    await expect.poll(info).toBe('256×192 · mask 0%');
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(info).toBe(`256×192 · mask ${painted}%`);
    await page.getByRole('button', { name: 'Invert' }).click();
    await expect.poll(info).toBe(`256×192 · mask ${100 - painted}%`);
    await page.keyboard.press('Control+z');
    await page.getByRole('radio', { name: /Brush/ }).click();
    expect(await page.getByRole('radio', { name: /Brush/ }).getAttribute('aria-checked')).toBe('true');
    expect(await page.getByRole('radio', { name: /Eraser/ }).getAttribute('aria-checked')).toBe('false');
    await page.mouse.move(cx + 40, cy + 40);
    await studio.screenshot('canvas');
  });

  it('[ and ] change the brush size; wheel zooms; fit and 100% set the zoom', async () => {
    const { page } = studio;
    const size = page.getByRole('slider', { name: 'Brush size' });
    await page.getByTestId('canvas-stage').focus();
    await page.keyboard.press(']');
    expect(Number(await size.inputValue())).toBe(144);
    await page.keyboard.press('[');
    await page.keyboard.press('[');
    expect(Number(await size.inputValue())).toBe(100);
    const zoom = page.getByRole('status', { name: 'Zoom' }).or(page.locator('output.zoom'));
    await page.getByRole('button', { name: '100%' }).click();
    expect(await zoom.textContent()).toBe('100%');
    const box = (await page.getByTestId('canvas-stage').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -300);
    await expect.poll(async () => parseInt((await zoom.textContent())!)).toBeGreaterThan(100);
    await page.getByRole('button', { name: 'Fit' }).click();
    expect(parseInt((await zoom.textContent())!)).toBeGreaterThan(100); // a small image is enlarged to fit
  });

  it('space-drag pans the view without painting', async () => {
    const { page } = studio;
    const stage = page.getByTestId('canvas-stage');
    const box = (await stage.boundingBox())!;
    const before = await info();
    const pixel = () => stage.evaluate((c: HTMLCanvasElement, y) => Array.from(c.getContext('2d')!.getImageData(60, y, 1, 1).data), Math.round(box.height / 2));
    const edgeBefore = await pixel();
    await stage.focus();
    await page.keyboard.down(' ');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 300, box.y + box.height / 2, { steps: 6 });
    await page.mouse.up();
    await page.keyboard.up(' ');
    expect(await info()).toBe(before);
    // The image moved right: the canvas's left edge now shows the empty stage instead of the image.
    await expect.poll(pixel).not.toEqual(edgeBefore);
    await page.getByRole('button', { name: 'Fit' }).click();
    await expect.poll(pixel).toEqual(edgeBefore);

    // Again with the Fit button focused (just clicked): Space over the picture still pans, and the
    // button is not pressed by it.
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Fit');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.keyboard.down(' ');
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 300, box.y + box.height / 2, { steps: 6 });
    await page.mouse.up();
    await page.keyboard.up(' ');
    expect(await info()).toBe(before);
    await expect.poll(pixel).not.toEqual(edgeBefore);
    await page.getByRole('button', { name: 'Fit' }).click();
    await expect.poll(pixel).toEqual(edgeBefore);
  });

  it('extends the canvas for outpainting and undoes the extension', async () => {
    const { page } = studio;
    const before = await info();
    // Without "fill right away", extending says what to do next.
    await page.getByRole('checkbox', { name: 'Fill the new border right away' }).uncheck();
    await page.getByRole('button', { name: 'Extend right' }).click();
    expect(await page.getByRole('status').filter({ hasText: 'The new border is masked' }).count()).toBe(1);
    await expect.poll(info).toMatch(/^320×192 · mask \d+%$/);
    await page.getByRole('button', { name: 'Extend bottom' }).click();
    await expect.poll(info).toMatch(/^320×256 /);
    await studio.screenshot('canvas-outpaint');
    await page.getByTestId('canvas-stage').focus();
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+z');
    await expect.poll(info).toBe(before);
  });

  it('recolours the mask overlay and keeps painting', async () => {
    const { page } = studio;
    const stage = page.getByTestId('canvas-stage');
    const box = (await stage.boundingBox())!;
    const probe = () => stage.evaluate((c: HTMLCanvasElement, p) => Array.from(c.getContext('2d')!.getImageData(p.x, p.y, 1, 1).data), { x: Math.round(box.width / 2), y: Math.round(box.height / 2) });
    await page.getByLabel('Mask overlay colour').fill('#00ff00');
    const before = Number(/mask (\d+)%/.exec((await info())!)![1]);
    await page.mouse.move(box.x + box.width / 2 - 60, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 60, box.y + box.height / 2, { steps: 6 });
    await page.mouse.up();
    await expect.poll(async () => Number(/mask (\d+)%/.exec((await info())!)![1])).toBeGreaterThanOrEqual(before);
    const [r, g] = await probe();
    expect(g).toBeGreaterThan(r!); // the painted area now shows green over the image
    expect(studio.pageErrors).toEqual([]);
  });

  it('saves the canvas to the gallery and history', async () => {
    const { page } = studio;
    await page.getByRole('textbox', { name: 'Inpaint prompt' }).fill('gradient with a blue square');
    await page.getByRole('button', { name: 'Save to gallery' }).click();
    await page.getByText('Saved to the gallery').waitFor();
    const found = await studio.backend.handlers['history.search']({ query: 'square', trashed: false, limit: 5, offset: 0 });
    expect(found.items.map((g) => [g.kind, g.params.width, g.params.height, g.maskPath !== null])).toEqual([['upload', 256, 192, true]]);
    expect(studio.pageErrors).toEqual([]);
  });
});
