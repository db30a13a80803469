// Windowing for a grid of equal cells: which items to render for a scroll position, so a history of
// 100,000 images costs the same as one screenful.

export interface GridWindow {
  columns: number;
  /** First and one-past-last item index to render. */
  start: number;
  end: number;
  /** Top of the first rendered row, in pixels from the top of the scroll content. */
  offsetY: number;
  totalHeight: number;
}

export function gridWindow(opts: {
  width: number;
  scrollTop: number;
  viewportHeight: number;
  cellWidth: number;
  rowHeight: number;
  gap: number;
  total: number;
  overscanRows?: number;
}): GridWindow {
  const { width, scrollTop, viewportHeight, cellWidth, rowHeight, gap, total } = opts;
  const overscan = opts.overscanRows ?? 2;
  const columns = Math.max(1, Math.floor((width + gap) / (cellWidth + gap)));
  const rows = Math.ceil(total / columns);
  const stride = rowHeight + gap;
  const firstRow = Math.max(0, Math.floor(scrollTop / stride) - overscan);
  const lastRow = Math.min(rows, Math.ceil((scrollTop + viewportHeight) / stride) + overscan);
  return {
    columns,
    start: Math.min(total, firstRow * columns),
    end: Math.min(total, lastRow * columns),
    offsetY: firstRow * stride,
    totalHeight: Math.max(0, rows * stride - gap),
  };
}

/** The page numbers (of `pageSize` items) that cover items [start, end). */
export function pagesFor(start: number, end: number, pageSize: number): number[] {
  if (end <= start) return [];
  const pages: number[] = [];
  for (let p = Math.floor(start / pageSize); p <= Math.floor((end - 1) / pageSize); p++) pages.push(p);
  return pages;
}
