// Every view fits a small laptop window (1024×700): nothing sticks out past the window's edges, and what
// does not fit scrolls inside its own panel instead of being cut off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';
import { cutOffControls } from './layout-check.ts';

describe('layout at 1024×700', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await launchStudio();
    await studio.page.setViewportSize({ width: 1024, height: 700 });
  });
  afterAll(async () => {
    await studio?.close();
  });

  for (const view of ['Generate', 'Canvas', 'History', 'Train', 'Models']) {
    it(`${view}: every control is inside the window or inside a panel that scrolls`, async () => {
      const { page } = studio;
      await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: view }).click();
      await expect.poll(() => page.locator('main section.view:not([hidden])').getAttribute('aria-label')).toBe(view);
      const cut = await cutOffControls(page);
      expect(cut.out).toEqual([]);
      expect(cut.page).toBeLessThanOrEqual(1024);
      await studio.screenshot(`layout-1024-${view.toLowerCase()}`);
    });
  }
});
