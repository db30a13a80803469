// Outpainting seam on the embedded emoji model (printed, not pass/fail). A generated picture is
// extended by a border on the right and the border inpainted as the Canvas does it (strength 1,
// feather 4, the model's sampler/steps/guidance), once with the new area pre-filled mid-grey (the old
// canvas) and once pre-filled from the picture's edges (renderer/src/canvas/edge-fill.ts, what the
// Canvas sends now). Same prompts, seeds and mask for both.
// Two cases: the whole 32×32 picture extended by 16 px (emoji edges are mostly white background), and
// its left half (16×32, the cut runs through the emoji) extended by 16 px back to 32×32.
// Column step: mean |difference| between two neighbouring pixel columns (all rows, RGB, 0–255).
// Seam: the largest column step in the join band (the join and the 4 feathered columns after it).
// Inside: the mean column step away from the join (in the picture and in the new area).
// seam / inside ≈ 1: the join is no sharper than the picture itself; ≫ 1: a visible seam.
// Run: npx tsx bench/outpaint-seam.bench.ts [--border PX] [--seeds N]
// Measured 2026-11-30 (5 prompts × 4 seeds, 2-core machine shared, 90 s):
//   whole picture:  grey seam 113.6, seam/inside 11.0  →  edges: join 1.0, worst step in the band 26.0, ratio 2.4
//                   (what remains is inside the 4-px feather, where the white pre-fill ramps into new content)
//   half picture:   grey seam 70.5, seam/inside 6.2    →  edges: worst step 10.6, ratio 0.9 (no visible join)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inpaint } from '../electron/engine/pipelines/inpaint.ts';
import { rgbImage, type RgbImage } from '../electron/engine/pipelines/image.ts';
import { loadModel } from '../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import { fillFromEdges } from '../renderer/src/canvas/edge-fill.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : dflt);
const border = flag('border', 16);
const seeds = flag('seeds', 4);
const prompts = ['red apple', 'smiling face', 'dog face', 'green tree', 'blue car'];

const modelDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../resources/models/emoji-ldm-32');
const model = await loadModel(modelDir);
const h = 32;

type Fill = 'grey' | 'edges';

/** The picture at the left of a (w + border)×h canvas, the new area filled as named. */
function extended(pic: RgbImage, fill: Fill): RgbImage {
  const { width: w } = pic;
  const W = w + border;
  const rgba = new Uint8ClampedArray(W * h * 4).fill(128);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) rgba[(y * W + x) * 4 + c] = pic.data[(y * w + x) * 3 + c]!;
      rgba[(y * W + x) * 4 + 3] = 255;
    }
  }
  if (fill === 'edges') fillFromEdges(rgba, W, h, { x: 0, y: 0, width: w, height: h });
  const rgb = new Uint8Array(W * h * 3);
  for (let i = 0; i < W * h; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c]!;
  return rgbImage(W, h, rgb);
}

/** White (repaint) over the new area only, as the Canvas's extend marks it. */
function borderMask(w: number): RgbImage {
  const W = w + border;
  const m = new Uint8Array(W * h * 3);
  for (let y = 0; y < h; y++) for (let x = w; x < W; x++) m.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return rgbImage(W, h, m);
}

/** The left `w` columns of a picture. */
function leftPart(pic: RgbImage, w: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(pic.data.subarray(y * pic.width * 3, (y * pic.width + w) * 3), y * w * 3);
  return rgbImage(w, h, out);
}

/** Mean |I(x+1) − I(x)| over rows and RGB, for the column pairs (x, x+1) listed. */
function columnStep(img: RgbImage, xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) for (let y = 0; y < img.height; y++) for (let c = 0; c < 3; c++) sum += Math.abs(img.data[(y * img.width + x + 1) * 3 + c]! - img.data[(y * img.width + x) * 3 + c]!);
  return sum / (xs.length * img.height * 3);
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const t0 = performance.now();
const pictures: { prompt: string; seed: number; image: RgbImage }[] = [];
for (const prompt of prompts) {
  for (let seed = 1; seed <= seeds; seed++) {
    const [pic] = await txt2img(model, { prompt, seed, width: 32, height: h, previewEvery: 0 });
    pictures.push({ prompt, seed, image: pic!.image });
  }
}

for (const w of [32, 16]) {
  const W = w + border;
  const mask = borderMask(w);
  const totals: Record<Fill, { seam: number; inside: number; ratio: number; band: number[] }> = {
    grey: { seam: 0, inside: 0, ratio: 0, band: Array(6).fill(0) },
    edges: { seam: 0, inside: 0, ratio: 0, band: Array(6).fill(0) },
  };
  console.log(`\n${model.name}: ${w === 32 ? 'whole' : 'left half of the'} ${w}×${h} picture extended by ${border} px on the right (${W}×${h}), ${prompts.length} prompts × ${seeds} seeds`);
  console.log('prompt            seed   grey: seam  inside  ratio   edges: seam  inside  ratio');
  for (const p of pictures) {
    const row: string[] = [];
    for (const fill of ['grey', 'edges'] as const) {
      const [out] = await inpaint(model, { prompt: p.prompt, seed: p.seed + 1000, image: extended(leftPart(p.image, w), fill), mask, strength: 1, feather: 4, previewEvery: 0 });
      const img = out!.image;
      const band = range(w - 1, w + 5).map((x) => columnStep(img, [x]));
      band.forEach((v, i) => (totals[fill].band[i]! += v));
      const seam = Math.max(...band);
      const inside = columnStep(img, [...range(0, w - 2), ...range(w + 5, W - 1)]);
      totals[fill].seam += seam;
      totals[fill].inside += inside;
      totals[fill].ratio += seam / inside;
      row.push(`${seam.toFixed(1).padStart(6)} ${inside.toFixed(1).padStart(7)} ${(seam / inside).toFixed(2).padStart(6)}`);
    }
    console.log(`${p.prompt.padEnd(16)} ${String(p.seed).padStart(5)}   ${row[0]}        ${row[1]}`);
  }
  const n = pictures.length;
  for (const fill of ['grey', 'edges'] as const) {
    const t = totals[fill];
    console.log(`  mean, ${fill.padEnd(5)} pre-fill: seam ${(t.seam / n).toFixed(2)}, inside ${(t.inside / n).toFixed(2)}, seam/inside ${(t.ratio / n).toFixed(2)}; ` +
      `column steps across the band (join, then +1…+5): ${t.band.map((v) => (v / n).toFixed(1)).join(' ')}`);
  }
}
console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
await model.release();
