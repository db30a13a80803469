// The denoising loop shared by txt2img, img2img and inpaint, written out top to bottom:
//   for each step: [inpaint: re-impose the known region] → scale input → [9-ch: concat mask and
//   masked-image latents] → UNet on (uncond, cond) as one batch → guidance → sampler step.
import { tensor, type TensorData } from '../tensor.ts';
import { throwIfAborted } from './errors.ts';
import type { DiffusionModel } from './model.ts';
import { cfgBatched } from '../diffusion/guidance.ts';
import type { NoiseSource, Sampler } from './sampling.ts';

/** How the known part of the picture steers the loop. */
export type InpaintGuide =
  /** Ordinary models: before every step the known region is replaced by the original latents
   * re-noised to that step (sampler.addNoise), and by the clean latents after the last one. */
  | { readonly kind: 'blend'; readonly known: Float32Array; readonly noise: Float32Array; readonly mask: Float32Array }
  /** Inpainting models: the UNet sees concat([latents, mask, masked-image latents]). */
  | { readonly kind: 'concat'; readonly mask: Float32Array; readonly maskedLatents: Float32Array };

export interface DenoiseArgs {
  readonly model: DiffusionModel;
  readonly sampler: Sampler;
  /** [1, C, h, w] latents at the noise level of step `startIndex`. */
  readonly latents: TensorData<'float32'>;
  readonly startIndex: number;
  /** Context [1, L, D] of the prompt, and of the negative prompt when guidance ≠ 1. */
  readonly cond: TensorData<'float32'>;
  readonly uncond: TensorData<'float32'> | null;
  readonly guidance: number;
  readonly rng: NoiseSource;
  readonly guide?: InpaintGuide;
  readonly signal?: AbortSignal;
  /** After each step: its 0-based index, the new latents, and the model input and guided ε of the step. */
  readonly onStep?: (index: number, latents: Float32Array, step: StepPrediction) => void;
}

/** What the UNet saw and said at a step's first model call: x in the model's input space (√ᾱ·x0 + √(1−ᾱ)·ε) and ε. */
export interface StepPrediction {
  readonly input: Float32Array;
  readonly eps: Float32Array;
}

export async function denoise(a: DenoiseArgs): Promise<TensorData<'float32'>> {
  const [, c, h, w] = a.latents.shape as [number, number, number, number];
  const hw = h * w;
  const guided = a.uncond !== null;
  const batch = guided ? 2 : 1;
  const inCh = a.model.unetInChannels;
  // Context and the UNet input buffer are the same every step: build them once.
  const context = guided ? concatBatch(a.uncond!, a.cond) : a.cond;
  const input = new Float32Array(batch * inCh * hw);
  if (a.guide?.kind === 'concat') {
    for (let b = 0; b < batch; b++) {
      input.set(a.guide.mask, (b * inCh + c) * hw);
      input.set(a.guide.maskedLatents, (b * inCh + c + 1) * hw);
    }
  }
  const inputTensor = tensor('float32', [batch, inCh, h, w], input);

  // The sampler scales x, calls this once or more per step (Heun, DPM2, DPM++ 2S a and SDE: twice) and
  // converts the guided output (ε or v) itself.
  const modelFn = async (scaled: Float32Array, t: number): Promise<Float32Array> => {
    throwIfAborted(a.signal);
    for (let b = 0; b < batch; b++) input.set(scaled, b * inCh * hw);
    const out = (await a.model.predictNoise(inputTensor, t, context)).data;
    return guided ? cfgBatched(out, a.guidance) : out;
  };

  let x = Float32Array.from(a.latents.data);
  const steps = a.sampler.timesteps.length;
  for (let i = a.startIndex; i < steps; i++) {
    throwIfAborted(a.signal);
    if (a.guide?.kind === 'blend') blend(x, a.sampler.addNoise(a.guide.known, a.guide.noise, i), a.guide.mask, c, hw);
    const r = await a.sampler.step(i, x, modelFn, a.rng);
    x = Float32Array.from(r.x);
    a.onStep?.(i, x, { input: r.input, eps: r.eps });
  }
  throwIfAborted(a.signal);
  if (a.guide?.kind === 'blend') blend(x, a.guide.known, a.guide.mask, c, hw);
  return tensor('float32', [1, c, h, w], x);
}

/** x ← m·x + (1 − m)·known, the mask [h·w] broadcast over channels. */
function blend(x: Float32Array, known: Float32Array, mask: Float32Array, channels: number, hw: number): void {
  for (let ch = 0; ch < channels; ch++) {
    const o = ch * hw;
    for (let p = 0; p < hw; p++) {
      const m = mask[p]!;
      x[o + p] = m * x[o + p]! + (1 - m) * known[o + p]!;
    }
  }
}

function concatBatch(a: TensorData<'float32'>, b: TensorData<'float32'>): TensorData<'float32'> {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data, 0);
  data.set(b.data, a.data.length);
  return tensor('float32', [a.shape[0]! + b.shape[0]!, ...a.shape.slice(1)], data);
}
