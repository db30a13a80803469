// The Train view as a new user meets it: a folder picked in web mode's folder browser, thumbnails in the
// scan, errors that go once fixed, only the method's own settings, runs listed from the database (after
// a reload too) with their loss chart (axis labels) and samples over steps, Paused in the status bar.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';
import { cutOffControls } from './layout-check.ts';

describe('Train view: folder browser, runs, samples', () => {
  let studio: Studio;
  let dataset: string;
  beforeAll(async () => {
    studio = await launchStudio();
    // launchStudio allows the folder holding the data folder (as `--allow DIR` would).
    dataset = path.join(studio.dataDir, '..', 'pictures', 'foxes');
    mkdirSync(dataset, { recursive: true });
    for (const [i, r] of [200, 160, 120].entries()) {
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r, g: 80, b: 20 } } }).png().toFile(path.join(dataset, `red_fox_${i}.png`));
    }
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Train' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  const form = () => studio.page.getByRole('form', { name: 'Training setup' });
  const run = () => studio.page.getByRole('region', { name: 'Training run' });

  it('says what to do first, and the error goes once a folder is scanned', async () => {
    await form().getByRole('button', { name: 'Start training' }).click();
    const error = form().getByRole('alert');
    await expect.poll(() => error.textContent()).toMatch(/Scan a folder with at least one usable image first/);
    await form().getByRole('textbox', { name: 'Dataset folder' }).fill(dataset);
    await form().getByRole('button', { name: 'Scan folder' }).click();
    await studio.page.getByTestId('scan-summary').waitFor();
    await expect.poll(() => error.count()).toBe(0);
  });

  it('picks the dataset folder in the folder browser (web mode) and shows thumbnails', async () => {
    const { page } = studio;
    await form().getByRole('textbox', { name: 'Dataset folder' }).fill('');
    await form().getByRole('button', { name: 'Browse…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Choose a folder' });
    const folders = dialog.getByRole('list', { name: 'Folders' });
    // First the folders the studio may read: the data folder and the allowed one, nothing else.
    const allowedRoot = path.dirname(studio.dataDir);
    await expect.poll(async () => (await folders.getByRole('button').allTextContents()).map((t) => t.trim()).sort()).toEqual([allowedRoot, studio.dataDir].sort());
    await folders.getByRole('button', { name: allowedRoot, exact: true }).click();
    await folders.getByRole('button', { name: 'pictures', exact: true }).click();
    await folders.getByRole('button', { name: 'foxes', exact: true }).click();
    await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(dataset);
    expect(await dialog.textContent()).toContain('3 pictures in this folder');
    // Up goes back to the allowed folder, and from there to the list, never above it.
    await dialog.getByRole('button', { name: /Up/ }).click();
    await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(path.dirname(dataset));
    await folders.getByRole('button', { name: 'foxes', exact: true }).click();
    await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(dataset);
    await studio.screenshot('train-folder-browser');
    await dialog.getByRole('button', { name: 'Use this folder' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await form().getByRole('textbox', { name: 'Dataset folder' }).inputValue()).toBe(dataset);
    await expect.poll(() => page.getByTestId('scan-summary').textContent()).toMatch(/^\s*3\s*images/);
    const thumbs = page.getByRole('list', { name: 'Captions' }).locator('img.thumb');
    await expect.poll(() => thumbs.count()).toBe(3);
    await expect.poll(() => thumbs.first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(32);
    expect(studio.pageErrors).toEqual([]);
  });

  it('shows only the settings the chosen method reads', async () => {
    const method = form().getByRole('combobox', { name: 'Method' });
    const rank = form().getByRole('spinbutton', { name: 'Rank' });
    const alpha = form().getByRole('spinbutton', { name: 'Alpha' });
    const layers = form().getByRole('combobox', { name: 'Layers' });
    for (const [label, shown] of [['Textual inversion', 0], ['Full fine-tune', 0], ['LoRA', 1]] as const) {
      await method.selectOption({ label });
      await expect.poll(async () => [await rank.count(), await alpha.count(), await layers.count()]).toEqual([shown, shown, shown]);
    }
    expect(await layers.inputValue()).toBe('auto');
  });

  it('trains with two sample prompts: the samples of each step in a grid, the loss chart with its axes', async () => {
    const { page } = studio;
    await form().getByRole('textbox', { name: 'Output name' }).fill('sampled');
    await form().getByRole('spinbutton', { name: 'Steps' }).fill('4');
    await form().getByRole('spinbutton', { name: 'Resolution' }).fill('32');
    await form().getByRole('textbox', { name: /Sample prompts/ }).fill('a red fox\na cat');
    await form().getByRole('spinbutton', { name: /Sample every/ }).fill('2');
    await form().getByRole('combobox', { name: 'Layers' }).selectOption({ label: 'Attention + feed-forward' });
    await form().getByRole('button', { name: 'Start training' }).click();
    const status = page.getByTestId('train-status');
    await expect.poll(() => status.textContent(), { timeout: 200_000 }).toBe('Finished');
    const [sampled] = await studio.backend.handlers['training.runs']({ limit: 1 });
    expect(sampled!.job.spec).toMatchObject({ outputName: 'sampled', targets: ['attn', 'ff'], samplePrompts: ['a red fox', 'a cat'], sampleEvery: 2 });
    const grid = run().getByRole('table', { name: 'Samples over steps' });
    await expect.poll(() => grid.getByRole('columnheader').allTextContents(), { timeout: 30_000 }).toEqual(['step', 'a red fox', 'a cat']);
    expect((await grid.getByRole('rowheader').allTextContents()).map((t) => t.trim())).toEqual(['2', '4']);
    await expect.poll(() => grid.getByRole('img').count()).toBe(4);
    expect(await grid.getByRole('img', { name: 'Sample of “a cat” at step 4' }).count()).toBe(1);
    // The chart says what its axes are, with values along them.
    const chart = run().getByRole('figure').filter({ has: page.getByRole('img', { name: 'Loss over steps' }) });
    expect(await chart.textContent()).toMatch(/loss/);
    expect(await chart.textContent()).toMatch(/step/);
    expect((await page.getByTestId('loss-x-ticks').locator('span').allTextContents()).length).toBeGreaterThan(1);
    expect((await page.getByTestId('loss-y-ticks').locator('span').allTextContents()).length).toBeGreaterThan(0);
    await studio.screenshot('train-samples-grid');
    expect(studio.pageErrors).toEqual([]);
  }, 260_000);

  it('lists runs from the database after a reload; a paused run says Paused in the status bar; a cancelled one offers Resume', async () => {
    const { page } = studio;
    await form().getByRole('textbox', { name: 'Output name' }).fill('long');
    await form().getByRole('spinbutton', { name: 'Steps' }).fill('5000');
    await form().getByRole('spinbutton', { name: /Sample every/ }).fill('0');
    await form().getByRole('textbox', { name: /Sample prompts/ }).fill('');
    await form().getByRole('button', { name: 'Start training' }).click();
    const runs = run().getByRole('list', { name: 'Training runs' });
    const longRun = runs.getByRole('button', { name: /^long/ });
    await expect.poll(() => longRun.getAttribute('aria-pressed')).toBe('true');
    // Its first loss reaches its row in the list (and the chart) while it trains.
    await expect.poll(() => longRun.textContent(), { timeout: 150_000 }).toMatch(/loss \d/);
    await run().getByRole('button', { name: 'Pause', exact: true }).click();
    const status = page.getByTestId('train-status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('Paused');
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/Paused: Training \d+\/5000/);

    await page.reload();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Train' }).click();
    // Both runs come back from the database, the paused one shown; its loss curve too.
    await expect.poll(async () => (await runs.getByRole('button').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual([
      expect.stringMatching(/^long\s*LoRA\s*Paused\s*\d+\/5000\s*loss \d/),
      expect.stringMatching(/^sampled\s*LoRA\s*Finished\s*4\/4\s*loss \d/),
    ]);
    await expect.poll(() => status.textContent()).toBe('Paused');
    await expect.poll(() => run().locator('path.raw').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    await expect.poll(() => page.getByTestId('job-activity').textContent()).toMatch(/Paused: Training/);

    await run().getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('Cancelled');
    expect(await run().getByRole('button', { name: 'Resume', exact: true }).count()).toBe(1);
    // The finished run is one click away, with its samples.
    await runs.getByRole('button', { name: /^sampled/ }).click();
    await expect.poll(() => status.textContent()).toBe('Finished');
    await expect.poll(() => run().getByRole('table', { name: 'Samples over steps' }).getByRole('img').count()).toBe(4);

    // With runs, a chart and a sample grid the view still fits a 1024×700 window.
    await page.setViewportSize({ width: 1024, height: 700 });
    await expect.poll(async () => (await cutOffControls(page)).page).toBeLessThanOrEqual(1024);
    expect((await cutOffControls(page)).out).toEqual([]);
    await studio.screenshot('train-runs-1024');
    expect(studio.pageErrors).toEqual([]);
  }, 240_000);
});
