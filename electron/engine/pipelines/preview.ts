// The cheap progress preview: a per-pixel linear map from (scaled) latents to RGB in [-1, 1],
// rgb = W·z + b, fitted per model by least squares and stored in model.json.
import { tensor, type TensorData } from '../tensor.ts';
import { PipelineError } from './errors.ts';
import { downsampleArea, imageToTensor, rgbImage, toByte, type RgbImage } from './image.ts';

export interface PreviewProjection {
  /** 3 rows (r, g, b), one column per latent channel. */
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
}

/** Latent [1, C, h, w] or [C, h, w] → an RGB picture at latent resolution. */
export function projectPreview(latent: TensorData | Float32Array, proj: PreviewProjection, shape?: readonly number[]): RgbImage {
  const data = (latent instanceof Float32Array ? latent : latent.data) as Float32Array;
  const dims = (shape ?? (latent as TensorData).shape).slice(-3);
  const [c, h, w] = dims as [number, number, number];
  checkProjection(proj, c);
  const hw = h * w;
  const out = new Uint8Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    for (let o = 0; o < 3; o++) {
      const row = proj.weights[o]!;
      let v = proj.bias[o]!;
      for (let k = 0; k < c; k++) v += row[k]! * data[k * hw + p]!;
      out[3 * p + o] = toByte(v);
    }
  }
  return rgbImage(w, h, out);
}

export function checkProjection(proj: PreviewProjection, channels: number): void {
  if (proj.weights.length !== 3 || proj.bias.length !== 3 || proj.weights.some((r) => r.length !== channels)) {
    throw new PipelineError(
      `the preview projection must be 3 rows of ${channels} weights plus 3 biases (one per latent channel); ` +
        `got ${proj.weights.length} rows of [${proj.weights.map((r) => r.length).join(', ')}] and ${proj.bias.length} biases`,
    );
  }
}

export interface PreviewSample {
  /** Scaled latents [1, C, h, w] or [C, h, w]. */
  readonly latent: TensorData;
  /** The picture at latent resolution, [1, 3, h, w] or [3, h, w] float in [-1, 1]. */
  readonly image: TensorData;
}

/**
 * Least-squares fit of rgb ≈ W·z + b over every latent pixel of every sample (normal equations in
 * float64 with a tiny ridge so a constant channel cannot make them singular).
 */
export function fitPreviewProjection(samples: readonly PreviewSample[]): PreviewProjection {
  if (samples.length === 0) throw new PipelineError('fitting a preview projection needs at least one (latent, image) pair');
  const c = samples[0]!.latent.shape.slice(-3)[0]!;
  const d = c + 1; // + bias column
  const ata = new Float64Array(d * d);
  const atb = new Float64Array(d * 3);
  const row = new Float64Array(d);
  let count = 0;
  for (const [i, s] of samples.entries()) {
    const [lc, lh, lw] = s.latent.shape.slice(-3) as [number, number, number];
    const [ic, ih, iw] = s.image.shape.slice(-3) as [number, number, number];
    if (lc !== c || ic !== 3 || lh !== ih || lw !== iw) {
      throw new PipelineError(
        `preview sample ${i}: latent [${s.latent.shape.join(', ')}] and image [${s.image.shape.join(', ')}] must be ` +
          `[${c}, h, w] and [3, h, w] at the same h, w (downsample the image to latent size first)`,
      );
    }
    const z = s.latent.data as Float32Array;
    const im = s.image.data as Float32Array;
    const hw = lh * lw;
    for (let p = 0; p < hw; p++) {
      for (let k = 0; k < c; k++) row[k] = z[k * hw + p]!;
      row[c] = 1;
      for (let a = 0; a < d; a++) {
        const ra = row[a]!;
        for (let b = a; b < d; b++) ata[a * d + b] += ra * row[b]!;
        for (let o = 0; o < 3; o++) atb[a * 3 + o] += ra * im[o * hw + p]!;
      }
    }
    count += hw;
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) ata[a * d + b] = ata[b * d + a]!;
  let trace = 0;
  for (let a = 0; a < d; a++) trace += ata[a * d + a]!;
  const ridge = 1e-9 * (trace / d) + 1e-12 * count;
  for (let a = 0; a < c; a++) ata[a * d + a] += ridge;
  const x = solveSymmetric(ata, atb, d, 3);
  const weights = [0, 1, 2].map((o) => Array.from({ length: c }, (_, k) => x[k * 3 + o]!));
  const bias = [0, 1, 2].map((o) => x[c * 3 + o]!);
  return { weights, bias };
}

/** Solves A·X = B (A d×d, B d×m) by Gaussian elimination with partial pivoting. */
function solveSymmetric(aIn: Float64Array, bIn: Float64Array, d: number, m: number): Float64Array {
  const a = Float64Array.from(aIn);
  const b = Float64Array.from(bIn);
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]!) > Math.abs(a[piv * d + col]!)) piv = r;
    if (Math.abs(a[piv * d + col]!) < 1e-300) {
      throw new PipelineError('the preview fit is singular: the samples have no variation; use more varied images');
    }
    if (piv !== col) {
      for (let k = 0; k < d; k++) [a[col * d + k], a[piv * d + k]] = [a[piv * d + k]!, a[col * d + k]!];
      for (let k = 0; k < m; k++) [b[col * m + k], b[piv * m + k]] = [b[piv * m + k]!, b[col * m + k]!];
    }
    for (let r = col + 1; r < d; r++) {
      const f = a[r * d + col]! / a[col * d + col]!;
      if (f === 0) continue;
      for (let k = col; k < d; k++) a[r * d + k] -= f * a[col * d + k]!;
      for (let k = 0; k < m; k++) b[r * m + k] -= f * b[col * m + k]!;
    }
  }
  const x = new Float64Array(d * m);
  for (let r = d - 1; r >= 0; r--) {
    for (let k = 0; k < m; k++) {
      let s = b[r * m + k]!;
      for (let c = r + 1; c < d; c++) s -= a[r * d + c]! * x[c * m + k]!;
      x[r * m + k] = s / a[r * d + r]!;
    }
  }
  return x;
}

/**
 * Fits a model's preview projection from sample pictures (used when packaging a trained model): each
 * picture is encoded to latents and area-downsampled to latent resolution, then fitted as above.
 */
export async function fitPreviewFromImages(
  // the part of a DiffusionModel (model.ts) this needs; named structurally so model.ts may import this file's types
  model: { readonly downscale: number; encodeImage(image: TensorData<'float32'>): Promise<TensorData<'float32'>> },
  images: readonly RgbImage[],
): Promise<PreviewProjection> {
  const samples: PreviewSample[] = [];
  for (const img of images) {
    const x = imageToTensor(img);
    const latent = await model.encodeImage(x);
    const f = model.downscale;
    const small = downsampleArea(x.data, 3, img.height, img.width, f);
    samples.push({ latent, image: tensor('float32', [1, 3, img.height / f, img.width / f], small) });
  }
  return fitPreviewProjection(samples);
}
