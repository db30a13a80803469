// Web mode's connection in the status bar: a tab whose studio restarted (same port, new session token) is
// told to open the new address instead of "reconnecting…" forever.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type WebServer } from '../../electron/web/server.ts';
import { ensureRendererBuilt, launchStudio, type Studio } from './harness.ts';

describe('connection status in Chromium', () => {
  let studio: Studio;
  let restarted: WebServer | undefined;
  beforeAll(async () => {
    studio = await launchStudio({ withModel: false });
  });
  afterAll(async () => {
    await restarted?.close();
    await studio?.close();
  });

  it('says the studio was restarted when the new server refuses the old token', async () => {
    const { page } = studio;
    const connection = page.getByTestId('connection');
    await page.getByTestId('execution-provider').waitFor();
    expect(await connection.count()).toBe(0);

    const port = studio.server.port;
    await studio.server.close();
    await expect.poll(async () => (await connection.textContent()) ?? '').toContain('reconnecting');

    restarted = await startWebServer({ backend: studio.backend, staticDir: await ensureRendererBuilt(), port });
    expect(restarted.token).not.toBe(studio.server.token);
    await expect
      .poll(async () => (await connection.textContent()) ?? '', { timeout: 15_000 })
      .toMatch(/The studio was restarted: open the new address .*\(the session token is not this run's\)/);
    await studio.screenshot('connection-restarted');

    // It stops there: no retry loop, and requests fail with the same sentence instead of hanging.
    const reply = await page.evaluate(() =>
      (window as unknown as { studio: { invoke(n: string, i: object): Promise<unknown> } }).studio
        .invoke('system.info', {})
        .then(() => 'answered', (err: Error) => err.message),
    );
    expect(reply).toMatch(/^The studio was restarted/);

    // The new address works.
    await page.goto(restarted.url);
    await page.getByTestId('execution-provider').waitFor();
    expect(await page.getByTestId('connection').count()).toBe(0);
  }, 60_000);
});
