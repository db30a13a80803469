// In the desktop app Browse… opens the native folder dialog (window.studioShell.pick, shell/preload.ts;
// the shell allows what was picked), not web mode's folder browser: the picked folder is scanned at once.
// Here the page gets a stand-in bridge that answers as the dialog would.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

describe('Train view in the desktop app: the native folder dialog', () => {
  let studio: Studio;
  let dataset: string;
  beforeAll(async () => {
    studio = await launchStudio();
    dataset = path.join(studio.dataDir, '..', 'picked');
    mkdirSync(dataset);
    for (const i of [0, 1]) await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 90 * i, g: 80, b: 20 } } }).png().toFile(path.join(dataset, `fox_${i}.png`));
    await studio.page.addInitScript((picked: string) => {
      const calls: string[] = [];
      (window as unknown as { studioShell: unknown; pickCalls: string[] }).pickCalls = calls;
      (window as unknown as { studioShell: unknown }).studioShell = { pick: async (kind: string) => (calls.push(kind), picked) };
    }, dataset);
    await studio.page.reload();
    await studio.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Train' }).click();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('picks the folder in the native dialog and scans it', async () => {
    const { page } = studio;
    const form = page.getByRole('form', { name: 'Training setup' });
    await form.getByRole('button', { name: 'Browse…' }).click();
    await expect.poll(() => form.getByRole('textbox', { name: 'Dataset folder' }).inputValue()).toBe(dataset);
    await expect.poll(() => page.getByTestId('scan-summary').textContent()).toMatch(/^\s*2\s*images/);
    expect(await page.evaluate(() => (window as unknown as { pickCalls: string[] }).pickCalls)).toEqual(['folder']);
    expect(await page.getByRole('dialog', { name: 'Choose a folder' }).count()).toBe(0);
    expect(studio.pageErrors).toEqual([]);
  });
});
