// The check behind "the view fits the window": every control of the visible view lies inside the window,
// or inside a panel that scrolls to it. Below the window is fine inside a panel that scrolls down; past
// the right edge only inside a strip made to scroll sideways (a row of thumbnails).
import type { Page } from 'playwright-core';

/** Controls of the visible view that the user cannot reach, and the page's scroll width. */
export async function cutOffControls(page: Page): Promise<{ out: string[]; page: number }> {
  return page.evaluate(() => {
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
}
