// The emoji set at higher resolution: the same samples, captions and held-out split as
// emoji-dataset.ts (Noto emoji from emoji-datasource-google), drawn from the Noto SVG sources in the
// npm package @svgmoji/noto (artwork Apache-2.0, package MIT) with @resvg/resvg-js, composited on
// white. An emoji without an SVG in that package is left out (the count is logged).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { listEmojiSamples, type EmojiDataset, type EmojiSample } from './emoji-dataset.ts';

const require = createRequire(import.meta.url);

/** resvg-js 2.6.2 aborts the whole process (a Rust panic in geom.rs) on these drawings: left out. */
const RESVG_PANICS = new Set(['1f3f3-200d-1f308', '1f485-1f3fb', '1f485-1f3fc', '1f485-1f3fd', '1f485-1f3fe', '1f485-1f3ff']);

/** A code-point sequence as both packages name it, without variation selectors: "1f468-200d-1f9b0". */
export function emojiKey(fileOrId: string): string {
  return path.basename(fileOrId, path.extname(fileOrId))
    .toLowerCase()
    .split('-')
    .filter((cp) => cp !== 'fe0f' && cp !== 'fe0e')
    .join('-');
}

/**
 * Every emoji of an @svgmoji sprite (one nested `<svg viewBox="0 0 128 128" id="CODEPOINTS">` each), as a
 * standalone SVG document, by emojiKey.
 */
export function splitSprite(sprite: string): Map<string, string> {
  const out = new Map<string, string>();
  const open = /<svg ([^>]*?)id="([0-9A-Fa-f-]+)"[^>]*>/g;
  const starts: { index: number; end: number; viewBox: string; id: string }[] = [];
  for (let m = open.exec(sprite); m; m = open.exec(sprite)) {
    const viewBox = /viewBox="([^"]+)"/.exec(m[0])?.[1] ?? '0 0 128 128';
    starts.push({ index: m.index, end: m.index + m[0].length, viewBox, id: m[2]! });
  }
  starts.forEach((s, i) => {
    const stop = i + 1 < starts.length ? starts[i + 1]!.index : sprite.lastIndexOf('</svg>');
    const body = sprite.slice(s.end, stop).replace(/<\/svg>\s*$/, '');
    // a non-square picture (the flags) is letterboxed into the square, centred
    const doc = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 128 128">`
      + `<svg viewBox="${s.viewBox}" width="128" height="128">${body}</svg></svg>`;
    const key = emojiKey(s.id);
    if (!out.has(key) && !RESVG_PANICS.has(key)) out.set(key, doc);
  });
  return out;
}

export function notoSprite(): string {
  return readFileSync(path.join(path.dirname(require.resolve('@svgmoji/noto/package.json')), 'sprites/all.svg'), 'utf8');
}

/** One SVG document → uint8 RGB planes [3, size, size], composited on white. */
export function renderSvg(svg: string, size: number): Uint8Array {
  const r = new Resvg(svg, { fitTo: { mode: 'width', value: size }, background: 'rgba(255, 255, 255, 1)', font: { loadSystemFonts: false } });
  const img = r.render();
  if (img.width !== size || img.height !== size) throw new Error(`an emoji SVG rendered at ${img.width}×${img.height}, not ${size}×${size}: its viewBox is not square`);
  const rgba = img.pixels;
  const plane = size * size;
  const out = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    const a = rgba[p * 4 + 3]! / 255;
    for (let c = 0; c < 3; c++) out[c * plane + p] = Math.round(rgba[p * 4 + c]! * a + 255 * (1 - a));
  }
  return out;
}

/**
 * The emoji set rendered from SVG at size×size (cached under cacheDir as emoji-svg-<size>.bin/.json);
 * samples keep emoji-dataset.ts's captions and held-out flags.
 */
export async function loadSvgEmojiDataset(size: number, cacheDir: string, log: (line: string) => void = console.log): Promise<EmojiDataset> {
  const cacheFile = path.join(cacheDir, `emoji-svg-${size}.bin`);
  const metaFile = path.join(cacheDir, `emoji-svg-${size}.json`);
  if (existsSync(cacheFile) && existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { samples: EmojiSample[] };
    return { size, samples: meta.samples, pixels: new Uint8Array(readFileSync(cacheFile)) };
  }
  const svgs = splitSprite(notoSprite());
  const all = listEmojiSamples();
  const samples = all.filter((s) => svgs.has(emojiKey(s.file)));
  log(`emoji SVG ${size}²: ${samples.length} of ${all.length} emoji have an SVG in @svgmoji/noto (${all.length - samples.length} left out)`);
  const n = 3 * size * size;
  const pixels = new Uint8Array(samples.length * n);
  samples.forEach((s, i) => pixels.set(renderSvg(svgs.get(emojiKey(s.file))!, size), i * n));
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(cacheFile, pixels);
  writeFileSync(metaFile, JSON.stringify({ samples }));
  return { size, samples, pixels };
}
