// Held-out evaluation of inpainting (issue 14, item 2), through the studio's own inpaint pipeline for
// both sides: the inpainting model (9-channel UNet) against latent blending with the text model.
// - Pictures: held-out concepts of the embedded model's split, skin-tone variants left out.
// - Masks: drawn with the training stage's mask maker from a seed training never uses, one kind per
//   picture in turn (box, strokes, border).
// - Input: the picture with the content under the mask taken away (canvasInput), so that neither method
//   can copy the answer (blending would, through the encoder's view of the cells next to the mask):
//   filled from the nearest kept pixel, and for border masks (outpainting) from the picture's edges as the
//   Canvas pre-fills an extension.
// - Settings: the text model's sampling defaults, strength 1, feather 4 (the Canvas's), same seed both.
// Measures (0–255 RGB):
// - inside: mean squared error over the masked pixels against the truth, and its PSNR;
// - seam: mean |Δ out − Δ truth| over neighbouring pixel pairs (horizontal and vertical) that touch the
//   masked pixels within SEAM_BAND px of the mask's border: a join (a colour step the truth does not
//   have) or a ramp that does not match the picture shows up here, well-matched content does not.
// - outpaint (the right OUTPAINT_BAND columns masked, the cut through the emoji): bench/outpaint-seam's
//   column-step measure, the largest step in the join band over the mean step elsewhere (≈ the truth's
//   ratio: no visible join); blending is run with the old mid-grey pre-fill and with the edge pre-fill.
import { Rng } from '../../electron/engine/diffusion/rng.ts';
import { rgbImage, type RgbImage } from '../../electron/engine/pipelines/image.ts';
import { inpaint } from '../../electron/engine/pipelines/inpaint.ts';
import type { DiffusionModel } from '../../electron/engine/pipelines/model.ts';
import { fillFromEdges } from '../../renderer/src/canvas/edge-fill.ts';
import { listEmojiSamples, renderEmoji } from './emoji-dataset.ts';
import { randomMask, type MaskKind } from './train-inpaint.ts';

export const EVAL_SIZE = 32;
export const EVAL_MASK_KINDS = ['box', 'strokes', 'border'] as const satisfies readonly MaskKind[];
/** Not the training stage's seed (5005): masks the model never saw. */
export const EVAL_MASK_SEED = 424_242;
export const FEATHER = 4;
export const SEAM_BAND = FEATHER + 1;
export const OUTPAINT_BAND = 12;

export interface HeldOutPicture {
  caption: string;
  truth: RgbImage;
}

/** The held-out pictures (no skin-tone variants); with `limit`, that many spread evenly over the set (it is sorted by category). */
export async function heldOutPictures(limit = Infinity): Promise<HeldOutPicture[]> {
  const all = listEmojiSamples().filter((s) => s.heldOut && !/skin tone/.test(s.caption));
  const n = Math.min(limit, all.length);
  const held = Array.from({ length: n }, (_, k) => all[Math.floor((k * all.length) / n)]!);
  return Promise.all(held.map(async (s) => ({ caption: s.caption, truth: rgbImage(EVAL_SIZE, EVAL_SIZE, new Uint8Array(await renderEmoji(s.file, EVAL_SIZE))) })));
}

/** The evaluation mask of picture i: kind i mod 3, drawn from EVAL_MASK_SEED + i. */
export function evalMask(i: number, size = EVAL_SIZE): { kind: MaskKind; mask: Float32Array } {
  const kind = EVAL_MASK_KINDS[i % EVAL_MASK_KINDS.length]!;
  return { kind, mask: randomMask(new Rng(EVAL_MASK_SEED + i), size, kind) };
}

/** The right `band` columns. */
export function rightBandMask(size = EVAL_SIZE, band = OUTPAINT_BAND): Float32Array {
  const m = new Float32Array(size * size);
  for (let y = 0; y < size; y++) m.fill(1, y * size + size - band, (y + 1) * size);
  return m;
}

export function maskImage(mask: Float32Array, size = EVAL_SIZE): RgbImage {
  const out = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) if (mask[p]! >= 0.5) out.fill(255, 3 * p, 3 * p + 3);
  return rgbImage(size, size, out);
}

/**
 * The picture with the content under the mask taken away, so neither method can copy the answer:
 * - 'nearest': each masked pixel takes the colour of the nearest kept one (breadth-first, 4-neighbours);
 * - 'edges': the area outside the kept rectangle from the nearest edge pixel, as the Canvas pre-fills an
 *   outpainting extension (renderer/src/canvas/edge-fill.ts);
 * - 'grey': mid-grey, as the Canvas filled extensions before.
 */
export function canvasInput(truth: RgbImage, mask: Float32Array, fill: 'nearest' | 'edges' | 'grey'): RgbImage {
  const { width: w, height: h } = truth;
  if (fill === 'nearest') {
    const out = Uint8Array.from(truth.data);
    const done = new Uint8Array(w * h);
    let front: number[] = [];
    for (let p = 0; p < w * h; p++) if (mask[p]! < 0.5) (done[p] = 1), front.push(p);
    while (front.length) {
      const next: number[] = [];
      for (const p of front) {
        const [x, y] = [p % w, Math.floor(p / w)];
        for (const q of [x > 0 ? p - 1 : -1, x + 1 < w ? p + 1 : -1, y > 0 ? p - w : -1, y + 1 < h ? p + w : -1]) {
          if (q < 0 || done[q]) continue;
          done[q] = 1;
          out.copyWithin(3 * q, 3 * p, 3 * p + 3);
          next.push(q);
        }
      }
      front = next;
    }
    return rgbImage(w, h, out);
  }
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (mask[y * w + x]! >= 0.5) continue;
    [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  }
  const rgba = new Uint8ClampedArray(w * h * 4).fill(128);
  for (let p = 0; p < w * h; p++) {
    if (mask[p]! < 0.5) for (let c = 0; c < 3; c++) rgba[4 * p + c] = truth.data[3 * p + c]!;
    rgba[4 * p + 3] = 255;
  }
  if (fill === 'edges' && x1 >= x0) fillFromEdges(rgba, w, h, { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 });
  const rgb = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = rgba[4 * p + c]!;
  return rgbImage(w, h, rgb);
}

/** One inpainting of `input` under `mask` through the studio's pipeline (model defaults, strength 1, feather 4). */
export async function inpaintOnce(model: DiffusionModel, prompt: string, input: RgbImage, mask: Float32Array, seed: number): Promise<RgbImage> {
  const [out] = await inpaint(model, { prompt, seed, image: input, mask: maskImage(mask, input.width), strength: 1, feather: FEATHER, previewEvery: 0 });
  return out!.image;
}

export interface ErrorSums {
  insideSq: number; // Σ squared error over masked pixels × RGB (0–255)
  insideN: number;
  seamAbs: number; // Σ |Δout − Δtruth| over seam pairs × RGB
  seamN: number;
}

export const emptySums = (): ErrorSums => ({ insideSq: 0, insideN: 0, seamAbs: 0, seamN: 0 });

/** Adds one result's inside-mask and seam errors against the truth to `s`. */
export function addErrors(s: ErrorSums, out: RgbImage, truth: RgbImage, mask: Float32Array): ErrorSums {
  const { width: w, height: h } = truth;
  const inMask = (p: number) => mask[p]! >= 0.5;
  for (let p = 0; p < w * h; p++) {
    if (!inMask(p)) continue;
    for (let c = 0; c < 3; c++) s.insideSq += (out.data[3 * p + c]! - truth.data[3 * p + c]!) ** 2;
    s.insideN += 3;
  }
  // masked pixels within SEAM_BAND (Chebyshev) of a kept pixel
  const band = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (!inMask(y * w + x)) continue;
    search: for (let dy = -SEAM_BAND; dy <= SEAM_BAND; dy++) for (let dx = -SEAM_BAND; dx <= SEAM_BAND; dx++) {
      const [u, v] = [x + dx, y + dy];
      if (u >= 0 && v >= 0 && u < w && v < h && !inMask(v * w + u)) {
        band[y * w + x] = 1;
        break search;
      }
    }
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const p = y * w + x;
    for (const q of [x + 1 < w ? p + 1 : -1, y + 1 < h ? p + w : -1]) {
      if (q < 0 || !(band[p] || band[q])) continue;
      for (let c = 0; c < 3; c++) {
        s.seamAbs += Math.abs(out.data[3 * p + c]! - out.data[3 * q + c]! - (truth.data[3 * p + c]! - truth.data[3 * q + c]!));
        s.seamN++;
      }
    }
  }
  return s;
}

export interface ErrorFigures {
  insideMse: number;
  insidePsnr: number;
  seam: number;
}

export function figures(s: ErrorSums): ErrorFigures {
  const insideMse = s.insideSq / s.insideN;
  return { insideMse, insidePsnr: 10 * Math.log10((255 * 255) / insideMse), seam: s.seamAbs / s.seamN };
}

/** bench/outpaint-seam's measure for a join after column `w - 1`: largest column step in the band w−1…w+4, and the mean step elsewhere. */
export function columnSeam(img: RgbImage, w: number): { seam: number; inside: number } {
  const step = (xs: number[]) => {
    let sum = 0;
    for (const x of xs) for (let y = 0; y < img.height; y++) for (let c = 0; c < 3; c++) sum += Math.abs(img.data[(y * img.width + x + 1) * 3 + c]! - img.data[(y * img.width + x) * 3 + c]!);
    return sum / (xs.length * img.height * 3);
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const band = range(w - 1, Math.min(w + 5, img.width - 1)).map((x) => step([x]));
  return { seam: Math.max(...band), inside: step([...range(0, w - 2), ...range(w + 5, img.width - 1)]) };
}

export type Method = 'blend' | 'ours';

export interface Comparison {
  pictures: number;
  /** Per mask kind and over all: inside and seam errors of each method. */
  byKind: Record<string, Record<Method, ErrorFigures>>;
  /** Right-band outpainting: mean seam, inside and seam/inside per way of filling, and the truth's. */
  outpaint: Record<'blendGrey' | 'blendEdges' | 'ours' | 'truth', { seam: number; inside: number; ratio: number; insidePsnr?: number }>;
  /** Per picture, for the samples grid and the paired statistics. */
  results: { caption: string; kind: MaskKind; mask: Float32Array; input: RgbImage; blend: RgbImage; ours: RgbImage; truth: RgbImage; errors: Record<Method, ErrorFigures> }[];
}

/** Paired over the pictures: on how many ours has the lower error, and the mean difference (ours − blend) ± its standard error. */
export function paired(results: Comparison['results'], key: 'insideMse' | 'seam'): { wins: number; n: number; meanDiff: number; stdErr: number } {
  const d = results.map((r) => r.errors.ours[key] - r.errors.blend[key]);
  const n = d.length;
  const mean = d.reduce((a, b) => a + b, 0) / n;
  const variance = d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { wins: d.filter((x) => x < 0).length, n, meanDiff: mean, stdErr: Math.sqrt(variance / n) };
}

/**
 * Both methods on every picture with its evaluation mask, and on the right-band outpainting; seeds
 * 1000 + i. `blendModel` is the text model (blending), `ours` the inpainting model.
 */
export async function compareInpainting(blendModel: DiffusionModel, ours: DiffusionModel, pictures: readonly HeldOutPicture[], log: (s: string) => void = () => {}): Promise<Comparison> {
  const sums: Record<string, Record<Method, ErrorSums>> = {};
  const results: Comparison['results'] = [];
  const out = { blendGrey: { seam: 0, inside: 0, ratio: 0 }, blendEdges: { seam: 0, inside: 0, ratio: 0 }, ours: { seam: 0, inside: 0, ratio: 0 }, truth: { seam: 0, inside: 0, ratio: 0 } };
  const outSums = { blendGrey: emptySums(), blendEdges: emptySums(), ours: emptySums() };
  const band = rightBandMask();
  const w = EVAL_SIZE - OUTPAINT_BAND;
  for (let i = 0; i < pictures.length; i++) {
    const { caption, truth } = pictures[i]!;
    const { kind, mask } = evalMask(i);
    const seed = 1000 + i;
    const input = canvasInput(truth, mask, kind === 'border' ? 'edges' : 'nearest');
    const blend = await inpaintOnce(blendModel, caption, input, mask, seed);
    const mine = await inpaintOnce(ours, caption, input, mask, seed);
    for (const k of [kind, 'all']) {
      sums[k] ??= { blend: emptySums(), ours: emptySums() };
      addErrors(sums[k].blend, blend, truth, mask);
      addErrors(sums[k].ours, mine, truth, mask);
    }
    const errors = { blend: figures(addErrors(emptySums(), blend, truth, mask)), ours: figures(addErrors(emptySums(), mine, truth, mask)) };
    results.push({ caption, kind, mask, input, blend, ours: mine, truth, errors });
    const runs = {
      blendGrey: await inpaintOnce(blendModel, caption, canvasInput(truth, band, 'grey'), band, seed),
      blendEdges: await inpaintOnce(blendModel, caption, canvasInput(truth, band, 'edges'), band, seed),
      ours: await inpaintOnce(ours, caption, canvasInput(truth, band, 'edges'), band, seed),
      truth,
    };
    for (const [k, img] of Object.entries(runs) as [keyof typeof runs, RgbImage][]) {
      const c = columnSeam(img, w);
      out[k].seam += c.seam;
      out[k].inside += c.inside;
      out[k].ratio += c.seam / c.inside;
      if (k !== 'truth') addErrors(outSums[k], img, truth, band);
    }
    if ((i + 1) % 20 === 0) log(`inpaint eval: ${i + 1}/${pictures.length} pictures`);
  }
  const n = pictures.length;
  const mean = (k: keyof typeof out) => ({ seam: out[k].seam / n, inside: out[k].inside / n, ratio: out[k].ratio / n });
  return {
    pictures: n,
    byKind: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, { blend: figures(v.blend), ours: figures(v.ours) }])),
    outpaint: {
      blendGrey: { ...mean('blendGrey'), insidePsnr: figures(outSums.blendGrey).insidePsnr },
      blendEdges: { ...mean('blendEdges'), insidePsnr: figures(outSums.blendEdges).insidePsnr },
      ours: { ...mean('ours'), insidePsnr: figures(outSums.ours).insidePsnr },
      truth: mean('truth'),
    },
    results,
  };
}
