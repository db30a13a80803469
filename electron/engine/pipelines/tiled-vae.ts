// Tiled VAE decode and encode for pictures above 512²: the latent grid is cut into overlapping square
// tiles (all of one size, so one onnxruntime session serves them all), each tile runs through the
// network on its own, and the outputs are blended with feathered weights, linear ramps across each
// overlap that add up to 1, so no seam shows. Peak memory is that of one tile instead of the picture.
// A convolution-only network gives the untiled result exactly when the overlap covers its receptive
// field; the autoencoders' GroupNorm and mid-block attention see one tile, not the whole picture, so
// the result differs slightly from an untiled run (measured in test/engine/pipelines/tiled-vae.test.ts
// and bench/quantize.bench.ts's notes; docs in README "Performance").
import { tensor, type TensorData } from '../tensor.ts';
import { PipelineError } from './errors.ts';

export interface VaeTiling {
  /** Tile pictures of more than this many pixels (width·height). Default 512². */
  readonly above: number;
  /** Tile side in picture pixels (a multiple of the autoencoder's factor). Default 512. */
  readonly tile: number;
  /** Overlap between neighbouring tiles in picture pixels. Default 128. */
  readonly overlap: number;
}

export const DEFAULT_VAE_TILING: VaeTiling = { above: 512 * 512, tile: 512, overlap: 128 };

/** Tile origins along one axis of `size`: every `tile − overlap`, the last one flush with the end. */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (size <= tile) return [0];
  const stride = tile - overlap;
  if (stride < 1) throw new PipelineError(`VAE tiling: the overlap (${overlap}) must be smaller than the tile (${tile})`);
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += stride) starts.push(s);
  starts.push(size - tile);
  return starts;
}

/**
 * Blend weights of one tile along one axis, in output units: 1 inside; across an overlap with a
 * neighbour, 0 over the quarter next to the tile's edge (where its zero padding shows), then a linear
 * ramp over the middle half up to 1 (each ramp and its neighbour's add up to 1).
 */
function ramp(x: number, overlap: number): number {
  return Math.max(0, Math.min(1, (x + 0.5 - overlap / 4) / (overlap / 2)));
}

function axisWeights(starts: readonly number[], i: number, tile: number, scale: number): Float32Array {
  const len = tile * scale;
  const before = i > 0 ? (starts[i - 1]! + tile - starts[i]!) * scale : 0;
  const after = i < starts.length - 1 ? (starts[i]! + tile - starts[i + 1]!) * scale : 0;
  const w = new Float32Array(len);
  for (let x = 0; x < len; x++) {
    let v = 1;
    if (before > 0) v = Math.min(v, ramp(x, before));
    if (after > 0) v = Math.min(v, ramp(len - 1 - x, after));
    w[x] = v;
  }
  return w;
}

function crop(t: TensorData<'float32'>, y0: number, x0: number, th: number, tw: number): TensorData<'float32'> {
  const [b, c, h, w] = t.shape as [number, number, number, number];
  const out = new Float32Array(b * c * th * tw);
  for (let p = 0; p < b * c; p++) {
    for (let y = 0; y < th; y++) {
      const src = (p * h + y0 + y) * w + x0;
      out.set(t.data.subarray(src, src + tw), (p * th + y) * tw);
    }
  }
  return tensor('float32', [b, c, th, tw], out);
}

/**
 * Runs a spatial network over `input` [B, C, H, W] in tiles. The tiling is laid on a grid of `unit`
 * input pixels (the latent grid: 1 for a decoder, the factor for an encoder); the network maps `unit`
 * input pixels to `outUnit` output pixels. `tile`/`overlap` are in grid cells.
 */
export async function runTiled(
  input: TensorData<'float32'>,
  run: (tile: TensorData<'float32'>) => Promise<TensorData<'float32'>>,
  grid: { unit: number; outUnit: number; tile: number; overlap: number },
): Promise<TensorData<'float32'>> {
  const [, , H, W] = input.shape as [number, number, number, number];
  const { unit, outUnit } = grid;
  if (H % unit || W % unit) throw new PipelineError(`VAE tiling: a ${W}×${H} input is not a whole number of ${unit}-pixel cells`);
  const [gh, gw] = [H / unit, W / unit];
  const [th, tw] = [Math.min(grid.tile, gh), Math.min(grid.tile, gw)];
  const ys = tileStarts(gh, th, Math.min(grid.overlap, th - 1));
  const xs = tileStarts(gw, tw, Math.min(grid.overlap, tw - 1));
  let acc: Float32Array | null = null;
  let shape: [number, number, number, number] = [0, 0, 0, 0];
  const weightSum = new Float32Array(gh * outUnit * gw * outUnit);
  const OW = gw * outUnit;
  for (const [i, y0] of ys.entries()) {
    const wy = axisWeights(ys, i, th, outUnit);
    for (const [j, x0] of xs.entries()) {
      const wx = axisWeights(xs, j, tw, outUnit);
      const out = await run(crop(input, y0 * unit, x0 * unit, th * unit, tw * unit));
      const [ob, oc, oh, ow] = out.shape as [number, number, number, number];
      if (oh !== th * outUnit || ow !== tw * outUnit) {
        throw new PipelineError(`VAE tiling: a tile gave ${ow}×${oh} where ${tw * outUnit}×${th * outUnit} was expected`);
      }
      if (!acc) {
        shape = [ob, oc, gh * outUnit, OW];
        acc = new Float32Array(ob * oc * gh * outUnit * OW);
      }
      const [oy, ox] = [y0 * outUnit, x0 * outUnit];
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) weightSum[(oy + y) * OW + ox + x] += wy[y]! * wx[x]!;
      }
      for (let p = 0; p < ob * oc; p++) {
        for (let y = 0; y < oh; y++) {
          const row = (p * shape[2] + oy + y) * OW + ox;
          const src = (p * oh + y) * ow;
          const a = wy[y]!;
          for (let x = 0; x < ow; x++) acc[row + x] += a * wx[x]! * out.data[src + x]!;
        }
      }
    }
  }
  const plane = shape[2] * OW;
  for (let i = 0; i < acc!.length; i++) acc![i] /= weightSum[i % plane]!;
  return tensor('float32', shape, acc!);
}

function tilingFor(pixels: number, factor: number, t: VaeTiling | false | undefined): { tile: number; overlap: number } | null {
  const o = t === undefined ? DEFAULT_VAE_TILING : t;
  if (o === false || pixels <= o.above) return null;
  if (o.tile % factor || o.overlap % factor) {
    throw new PipelineError(`VAE tiling: tile (${o.tile}) and overlap (${o.overlap}) must be multiples of the autoencoder's factor ${factor}`);
  }
  return { tile: o.tile / factor, overlap: o.overlap / factor };
}

/** latents [B, C, h, w] → picture [B, 3, h·f, w·f], in tiles when the picture is above the threshold. */
export async function decodeMaybeTiled(
  latents: TensorData<'float32'>,
  factor: number,
  decode: (z: TensorData<'float32'>) => Promise<TensorData<'float32'>>,
  tiling?: VaeTiling | false,
): Promise<TensorData<'float32'>> {
  const [, , h, w] = latents.shape as [number, number, number, number];
  const t = tilingFor(h * w * factor * factor, factor, tiling);
  return t ? runTiled(latents, decode, { unit: 1, outUnit: factor, ...t }) : decode(latents);
}

/** picture [B, 3, H, W] → latents [B, C, H/f, W/f], in tiles when the picture is above the threshold. */
export async function encodeMaybeTiled(
  image: TensorData<'float32'>,
  factor: number,
  encode: (x: TensorData<'float32'>) => Promise<TensorData<'float32'>>,
  tiling?: VaeTiling | false,
): Promise<TensorData<'float32'>> {
  const [, , H, W] = image.shape as [number, number, number, number];
  const t = tilingFor(H * W, factor, tiling);
  return t ? runTiled(image, encode, { unit: factor, outUnit: 1, ...t }) : encode(image);
}
