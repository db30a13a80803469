import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

async function solidPng(r: number, g: number, b: number): Promise<string> {
  const buf = await sharp({ create: { width: 48, height: 48, channels: 3, background: { r, g, b } } }).png().toBuffer();
  return buf.toString('base64');
}

describe('history in Chromium against the real backend', () => {
  let studio: Studio;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    studio = await launchStudio({ withModel: false });
    const save = studio.backend.handlers['gallery.save'];
    for (const [prompt, rgb] of [
      ['a red fox in the snow', [200, 60, 20]],
      ['a snowy cat on a roof', [220, 220, 230]],
      ['a red cat', [180, 30, 40]],
    ] as const) {
      ids[prompt] = (await save({ image: { base64: await solidPng(rgb[0], rgb[1], rgb[2]) }, prompt, parentId: null, mask: null })).id;
    }
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'History' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  const count = () => studio.page.getByTestId('history-count').textContent();
  const tiles = () => studio.page.getByRole('list', { name: 'History images' }).getByRole('button');

  it('lists everything, then narrows with full-text search', async () => {
    const { page } = studio;
    await expect.poll(count).toBe('3 images');
    await page.getByRole('searchbox', { name: 'Search the history' }).fill('cat');
    await expect.poll(count).toBe('2 images');
    expect((await tiles().evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).sort()).toEqual(['a red cat', 'a snowy cat on a roof']);
    await page.getByRole('searchbox', { name: 'Search the history' }).fill('red ca');
    await expect.poll(count).toBe('1 image');
    await page.getByRole('combobox', { name: 'Filter by kind' }).selectOption('inpaint');
    await expect.poll(count).toBe('0 images');
    await page.getByText('No images match').waitFor();
    await page.getByRole('combobox', { name: 'Filter by kind' }).selectOption('upload');
    await expect.poll(count).toBe('1 image');
    await page.getByRole('combobox', { name: 'Filter by kind' }).selectOption('');
  });

  it('shows the detail, favourites, and filters by favourites', async () => {
    const { page } = studio;
    await page.getByRole('searchbox', { name: 'Search the history' }).fill('');
    await expect.poll(count).toBe('3 images');
    await tiles().filter({ has: page.locator('[aria-label="a red cat"]') }).or(page.getByRole('button', { name: 'a red cat', exact: true })).first().click();
    const detail = page.getByRole('complementary', { name: 'Image details' });
    await expect.poll(() => detail.textContent()).toContain('48×48');
    await detail.getByRole('button', { name: 'Add to favourites' }).click();
    await detail.getByRole('button', { name: 'Remove from favourites' }).waitFor();
    await page.getByRole('checkbox', { name: 'Favourites' }).check();
    await expect.poll(count).toBe('1 image');
    await studio.screenshot('history');
    await page.getByRole('checkbox', { name: 'Favourites' }).uncheck();
    await expect.poll(count).toBe('3 images');
  });

  it('deletes to the trash and restores', async () => {
    const { page } = studio;
    const detail = page.getByRole('complementary', { name: 'Image details' });
    await detail.getByRole('button', { name: 'Move to trash' }).click();
    await expect.poll(count).toBe('2 images');
    await page.getByRole('button', { name: 'Trash' }).click();
    await expect.poll(count).toBe('1 image');
    await page.getByRole('button', { name: 'a red cat', exact: true }).click();
    await detail.getByRole('button', { name: 'Restore' }).click();
    await expect.poll(count).toBe('0 images');
    await page.getByRole('button', { name: 'Trash' }).click();
    await expect.poll(count).toBe('3 images');
    const g = await studio.backend.handlers['history.get']({ id: ids['a red cat']! });
    expect([g.trashedAt, g.favourite]).toEqual([null, true]);
    expect(studio.pageErrors).toEqual([]);
  });

  it('shows whole pictures in the tiles, small ones with sharp pixels, labelled in the common kind words', async () => {
    const { page } = studio;
    const img = tiles().first().locator('img');
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.classList.contains('small'))).toBe(true);
    expect(await img.evaluate((el) => [getComputedStyle(el).objectFit, getComputedStyle(el).imageRendering])).toEqual(['contain', 'pixelated']);
    expect(await tiles().first().textContent()).toContain('Saved from canvas');
    const kinds = await page.getByRole('combobox', { name: 'Filter by kind' }).locator('option').allTextContents();
    expect(kinds).toEqual(['All kinds', 'Text to image', 'Image to image', 'Inpaint', 'Upscale ×4', 'Saved from canvas', 'Imported']);
  });

  it('empties the trash after asking, deleting for good', async () => {
    const { page } = studio;
    const detail = page.getByRole('complementary', { name: 'Image details' });
    for (const name of ['a red fox in the snow', 'a snowy cat on a roof']) {
      await page.getByRole('button', { name, exact: true }).click();
      await detail.getByRole('button', { name: 'Move to trash' }).click();
    }
    await expect.poll(count).toBe('1 image');
    await page.getByRole('button', { name: 'Trash' }).click();
    await expect.poll(count).toBe('2 images');
    await page.getByRole('button', { name: 'Empty trash…' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm emptying the trash' });
    expect(await confirm.textContent()).toContain('Delete 2 pictures for good?');
    await confirm.getByRole('button', { name: 'Delete for good' }).click();
    await expect.poll(count).toBe('0 images');
    await expect(studio.backend.handlers['history.get']({ id: ids['a red fox in the snow']! })).rejects.toThrow();
    await page.getByRole('button', { name: 'Trash' }).click();
    await expect.poll(count).toBe('1 image');
    expect(studio.pageErrors).toEqual([]);
  });
});

describe('a long history in Chromium', () => {
  let studio: Studio;
  const N = 150;
  beforeAll(async () => {
    studio = await launchStudio({ withModel: false });
    const base64 = await solidPng(40, 90, 160);
    for (let i = 0; i < N; i++) {
      await studio.backend.handlers['gallery.save']({ image: { base64 }, prompt: `tile number ${i}`, parentId: null, mask: null });
    }
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'History' }).click();
  }, 120_000);
  afterAll(async () => {
    await studio?.close();
  });

  it('renders only the tiles in view and loads further pages as it scrolls to the end', async () => {
    const { page } = studio;
    await expect.poll(() => page.getByTestId('history-count').textContent()).toBe(`${N} images`);
    const grid = page.getByRole('list', { name: 'History images' });
    const rendered = await grid.getByRole('listitem').count();
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThan(N / 2);
    // Newest first: the oldest image sits at the very end.
    await grid.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.getByRole('button', { name: 'tile number 0', exact: true }).waitFor();
    expect(await grid.getByRole('listitem').count()).toBeLessThan(N / 2);
    expect(await page.getByRole('button', { name: `tile number ${N - 1}`, exact: true }).count()).toBe(0);
    // Arrow keys move the selection through the grid.
    await page.getByRole('button', { name: 'tile number 1', exact: true }).click();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByRole('button', { name: 'tile number 0', exact: true }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('tile number 0');
    expect(studio.pageErrors).toEqual([]);
  });
});
