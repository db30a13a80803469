import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { startWebServer } from '../../electron/web/server.ts';
import { launchStudio, repoRoot, type Studio } from './harness.ts';

describe('app shell in Chromium against web mode', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('shows system.info from the real backend in the status bar', async () => {
    const { page } = studio;
    const ep = page.getByTestId('execution-provider');
    await ep.waitFor();
    const info = await studio.backend.handlers['system.info']({});
    expect((await ep.textContent())?.trim()).toBe(info.activeProvider.toUpperCase());
    const status = page.getByRole('contentinfo', { name: 'Status' });
    await expect.poll(() => status.textContent()).toContain(studio.dataDir);
    expect(await status.textContent()).toMatch(/onnxruntime 1\.\d+\.\d+/);
    expect(await status.textContent()).toContain('web mode');
  });

  it('navigates between the five views with the sidebar and Alt+number', async () => {
    const { page } = studio;
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Canvas', 'History', 'Train', 'Models', 'Generate']) {
      await nav.getByRole('button', { name }).click();
      await expect.poll(() => nav.getByRole('button', { name }).getAttribute('aria-current')).toBe('page');
      expect(await page.getByRole('region', { name, exact: true }).isVisible()).toBe(true);
    }
    await page.keyboard.press('Alt+3');
    expect(await page.getByRole('region', { name: 'History', exact: true }).isVisible()).toBe(true);
    expect(await page.getByRole('region', { name: 'Generate', exact: true }).isVisible()).toBe(false);
    await page.keyboard.press('Alt+1');
    await studio.screenshot('shell');
    expect(studio.pageErrors).toEqual([]);
  });

  it('refuses a WebSocket without the session token', async () => {
    // From the studio's own page the socket is closed at once with TOKEN_REFUSED (4401), so the page can
    // say why; a request sent meanwhile is never answered.
    const result = await studio.page.evaluate(async (port) => {
      return new Promise<{ code: number; answered: boolean }>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=wrong`);
        let answered = false;
        ws.onopen = () => ws.send(JSON.stringify({ t: 'req', id: 1, name: 'system.info', input: {} }));
        ws.onmessage = () => (answered = true);
        ws.onclose = (e) => resolve({ code: e.code, answered });
      });
    }, studio.server.port);
    expect(result).toEqual({ code: 4401, answered: false });
    studio.pageErrors.length = 0; // the refused socket logs a console error on purpose
  });

  it('says when web mode goes away, and reconnects when it is back', async () => {
    const { page } = studio;
    const { port, token } = studio.server;
    await studio.server.close();
    const banner = page.getByTestId('connection');
    await banner.waitFor();
    expect(await banner.textContent()).toContain('reconnecting');
    studio.server = await startWebServer({ backend: studio.backend, staticDir: path.join(repoRoot, 'renderer/dist'), port, token });
    await banner.waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Models' }).click();
    await page.getByRole('table', { name: 'Installed models' }).waitFor();
    studio.pageErrors.length = 0; // the browser logs each refused reconnect attempt
  });

  it('explains a stale or wrong session token instead of spinning', async () => {
    const page = await studio.browser.newPage();
    await page.goto(`http://127.0.0.1:${studio.server.port}/?token=stale-token-from-an-old-run`);
    const banner = page.getByTestId('connection');
    await banner.waitFor();
    // A token from another run: the page says so and where to go, instead of reconnecting forever.
    expect(await banner.textContent()).toMatch(/open the (exact URL|new address)/);
    await page.close();
  });

  it('moves focus with Tab and shows where it is', async () => {
    const { page } = studio;
    await page.reload();
    await page.getByTestId('execution-provider').waitFor();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const style = getComputedStyle(el);
      return { label: el.textContent?.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    expect(focused.label).toBe('Generate'); // the first control is the first navigation item
    expect(focused.outline).toBe('solid');
    expect(focused.width).toBeGreaterThanOrEqual(2);
  });
});
