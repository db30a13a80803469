// Every view fits a small laptop window (1024×700): nothing sticks out past the window's edges, and what
// does not fit scrolls inside its own panel instead of being cut off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchStudio, type Studio } from './harness.ts';

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
      await page.waitForTimeout(300);
      const cut = await page.evaluate(() => {
        // Below the window: fine inside a panel that scrolls down. Past the right edge: fine only inside a
        // strip made to scroll sideways (a row of thumbnails), never in a panel that scrolls down.
        const scrolls = (el: Element, sideways: boolean): boolean => {
          for (let e = el.parentElement; e; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (!sideways && /(auto|scroll)/.test(s.overflowY) && e.scrollHeight > e.clientHeight) return true;
            if (sideways && /(auto|scroll)/.test(s.overflowX) && e.scrollWidth > e.clientWidth && e.scrollHeight <= e.clientHeight) return true;
          }
          return false;
        };
        const out: string[] = [];
        for (const el of document.querySelectorAll('main section.view:not([hidden]) :is(button, input, select, textarea, output, label)')) {
          const r = el.getBoundingClientRect();
          if (!r.width || !r.height) continue;
          const right = r.right > window.innerWidth + 0.5 || r.left < -0.5;
          const below = r.bottom > window.innerHeight + 0.5;
          if ((right && !scrolls(el, true)) || (below && !right && !scrolls(el, false))) out.push(`${el.tagName} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}" at ${Math.round(r.right)},${Math.round(r.bottom)}`);
        }
        return { out, page: document.documentElement.scrollWidth };
      });
      expect(cut.out).toEqual([]);
      expect(cut.page).toBeLessThanOrEqual(1024);
      await studio.screenshot(`layout-1024-${view.toLowerCase()}`);
    });
  }
});
