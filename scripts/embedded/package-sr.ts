// Stage 'sr-package': the ×4 super-resolution model saved in the paper's CompVis layout (bsr_sr style:
// model.diffusion_model.* = the UNet's EMA weights, first_stage_model.* = the KL f=4 autoencoder
// fine-tuned at 128² with 32 groups, the DDPM buffers betas/alphas_cumprod and scale_factor; a small yaml
// beside it), so the studio opens it as one of the paper's releases. It is then measured through the
// studio's own upscale pipeline on held-out emoji against bicubic ×4 and the truth (PSNR, SSIM), a
// samples.png (LR / bicubic / ours / truth) and a model card are written, and the package is copied to
// resources/models/<name>/ only when it beats bicubic ×4 (back-projected alike) on both held-out PSNR and SSIM.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { makeSchedule, type ScheduleConfig } from '../../electron/engine/diffusion/schedule.ts';
import type { AutoencoderConfig, UNetConfig } from '../../electron/engine/nn/config.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { autoencoderParams, buildVaeDecoderGraph, unetParams } from '../../electron/engine/nn/models.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { openRelease, upscale } from '../../electron/engine/pipelines/release.ts';
import { floatToHalf, halfToFloat, tensor, type TensorData } from '../../electron/engine/tensor.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, AUTOENCODER, CACHE_DIR, SR_AUTOENCODER, SR_DECODER_TRAINING, SR_IMAGE_SIZE, SR_MODEL_NAME, SR_SCHEDULE, SR_TRAINING, SR_UNET, SR_WORK_DIR } from './config.ts';
import { backProject } from '../../electron/engine/pipelines/back-projection.ts';
import { embeddedAutoencoderWeights, SR_CHECKPOINT, SR_THREADS, srAutoencoderWeights, srLatentCache } from './train-sr.ts';
import { interleavedToPlanar, loadSrDataset, mse, planarToInterleaved, psnrOf, resizePlanar, ssim, toBytes, type SrDataset } from './sr-data.ts';
import type { SrLatents } from './train-sr.ts';

export const SR_PACKAGE_DIR = path.join('resources/models', SR_MODEL_NAME);
const STAGING_DIR = path.join(SR_WORK_DIR, 'package');
const FILE = `${SR_MODEL_NAME}.safetensors`;
/**
 * Sampling used for the figures and the samples. `strength` and `backProjection` are the model's defaults
 * for "Upscale ×4" (written to its yaml as upscale_strength and upscale_back_projection): start from the
 * picture enlarged and noised that far, and back-project the result onto the input, because from pure
 * noise this small UNet drifts in colour. The card reports the paper's sampling too.
 */
export const SR_EVAL = { sampler: 'ddim', steps: 50, seed: 1, strength: 0.6, backProjection: 3 };

function half(shape: number[], data: Float32Array): TensorData<'float16'> {
  return tensor('float16', shape, Uint16Array.from(data, (v) => floatToHalf(v)));
}

/**
 * A super-resolution LDM in the paper's layout: the UNet under model.diffusion_model.*, the autoencoder
 * under first_stage_model.* (weights as float16), and the DDPM buffers betas, alphas_cumprod and
 * scale_factor as float32.
 */
export function srReleaseTensors(
  unetCfg: UNetConfig, unet: ReadonlyMap<string, Float32Array>,
  aeCfg: AutoencoderConfig, ae: ReadonlyMap<string, Float32Array>,
  scaleFactor: number, schedule: ScheduleConfig,
): Map<string, TensorData> {
  const tensors = new Map<string, TensorData>();
  const add = (params: Map<string, { shape: readonly number[] }>, from: ReadonlyMap<string, Float32Array>, what: string) => {
    for (const [name, p] of params) {
      const data = from.get(name);
      if (!data) throw new Error(`the ${what} has no ${name}`);
      tensors.set(name, half([...p.shape], data));
    }
  };
  add(unetParams(unetCfg), unet, 'UNet');
  add(autoencoderParams(aeCfg), ae, 'autoencoder');
  const s = makeSchedule(schedule);
  tensors.set('betas', tensor('float32', [s.trainTimesteps], Float32Array.from(s.betas)));
  tensors.set('alphas_cumprod', tensor('float32', [s.trainTimesteps], Float32Array.from(s.alphasCumprod)));
  tensors.set('scale_factor', tensor('float32', [], Float32Array.of(scaleFactor)));
  return tensors;
}

/** The trained model's release tensors: the UNet's EMA weights and the 128² autoencoder. */
export async function assembleSrRelease(): Promise<{ tensors: Map<string, TensorData>; unetStep: number; aeStep: number; encoderStep: number; scaleFactor: number }> {
  const ck = await loadCheckpoint(SR_CHECKPOINT);
  const ae = await srAutoencoderWeights();
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR);
  const { scaleFactor } = await srLatentCache(ds, console.log);
  const tensors = srReleaseTensors(SR_UNET, ck.ema?.shadow ?? ck.params, SR_AUTOENCODER, ae.weights, scaleFactor, SR_SCHEDULE);
  return { tensors, unetStep: ck.step, aeStep: ae.step, encoderStep: ae.encoderStep, scaleFactor };
}

function releaseYaml(scaleFactor: number): string {
  return `# ${SR_MODEL_NAME}: ×4 super-resolution LDM (paper §4.4, bsr_sr layout), trained by npm run train:default -- --stage sr
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: ${SR_SCHEDULE.betaStart}
    linear_end: ${SR_SCHEDULE.betaEnd}
    timesteps: ${SR_SCHEDULE.trainTimesteps}
    first_stage_key: image
    cond_stage_key: LR_image
    image_size: ${SR_IMAGE_SIZE / 4}
    channels: ${SR_AUTOENCODER.embedDim}
    concat_mode: true
    cond_stage_trainable: false
    scale_factor: ${scaleFactor}
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        in_channels: ${SR_UNET.inChannels}
        out_channels: ${SR_UNET.outChannels}
        model_channels: ${SR_UNET.modelChannels}
        attention_resolutions: []
        num_res_blocks: ${SR_UNET.numResBlocks}
        channel_mult: [${SR_UNET.channelMult.join(', ')}]
        num_head_channels: ${SR_UNET.numHeadChannels}
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: ${SR_AUTOENCODER.embedDim}
        ddconfig:
          double_z: true
          z_channels: ${SR_AUTOENCODER.zChannels}
          resolution: ${SR_IMAGE_SIZE}
          in_channels: 3
          out_ch: 3
          ch: ${SR_AUTOENCODER.ch}
          ch_mult: [${SR_AUTOENCODER.chMult.join(', ')}]
          num_res_blocks: ${SR_AUTOENCODER.numResBlocks}
          attn_resolutions: []
    cond_stage_config: __is_first_stage__
    upscale_strength: ${SR_EVAL.strength}
    upscale_back_projection: ${SR_EVAL.backProjection}
`;
}

export interface SrScores {
  count: number;
  ours: { psnr: number; ssim: number };
  /** The same model sampled from pure noise without back-projection (the paper's way). */
  fromNoise: { psnr: number; ssim: number };
  bicubic: { psnr: number; ssim: number };
  /** Bicubic ×4 with the same rounds of back-projection as ours. */
  bicubicBackProjected: { psnr: number; ssim: number };
  /** Autoencoder round trip of the truth (the ceiling of any LDM on this first stage). */
  autoencoderPsnr: number;
  secondsPerImage: number;
}

/**
 * Mean PSNR (8-bit) of decoding the posterior means of the cached latents (the embedded encoder's) with
 * a decoder: the ceiling any LDM on these latents can reach.
 */
export async function decoderPsnr(cfg: AutoencoderConfig, weights: ReadonlyMap<string, Float32Array>, ds: SrDataset, lat: SrLatents, indices: number[]): Promise<number> {
  const b = 8;
  const { channels: c, size: s } = lat;
  const g = buildVaeDecoderGraph(cfg, b, s, s);
  const dec = await createSession(toModelProto(g, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: g.params.get(n)!.shape, data: weights.get(n)! }) }), { threads: SR_THREADS });
  const per = c * s * s;
  const hn = 3 * ds.high.size * ds.high.size;
  let sum = 0;
  try {
    for (let start = 0; start < indices.length; start += b) {
      const z = new Float32Array(b * per);
      const chunk = indices.slice(start, start + b);
      chunk.forEach((i, k) => z.set(lat.moments.subarray(i * 2 * per, i * 2 * per + per), k * per));
      const y = Object.values(await dec.run({ [g.inputs[0]!.name]: { dtype: 'float32', shape: [b, c, s, s], data: z } }))[0]!.data as Float32Array;
      chunk.forEach((i, k) => {
        sum += psnrOf(mse(toBytes(y.subarray(k * hn, (k + 1) * hn)), ds.high.pixels.subarray(i * hn, (i + 1) * hn)));
      });
    }
  } finally {
    await dec.release();
  }
  return sum / indices.length;
}

/**
 * Held-out pictures through the studio's upscale pipeline: ours at the model's defaults and from pure
 * noise without back-projection (the paper's sampling), against bicubic ×4 alone and with the same
 * back-projection (a fair baseline for it).
 */
export async function evaluateSr(file: string, ds: SrDataset, indices: number[], onEach?: (i: number, bicubic: Uint8Array, ours: Uint8Array) => void): Promise<Omit<SrScores, 'autoencoderPsnr'>> {
  const model = await openRelease(file, SR_MODEL_NAME, '');
  const size = SR_IMAGE_SIZE;
  const low = ds.lowSize;
  const hn = 3 * size * size;
  const ln = 3 * low * low;
  const zero = () => ({ psnr: 0, ssim: 0 });
  const sum = { ours: zero(), fromNoise: zero(), bicubic: zero(), bicubicBackProjected: zero() };
  const add = (k: keyof typeof sum, img: Uint8Array, truth: Uint8Array) => {
    sum[k].psnr += psnrOf(mse(img, truth));
    sum[k].ssim += ssim(img, truth, size);
  };
  let seconds = 0;
  try {
    for (const i of indices) {
      const image = { width: low, height: low, data: planarToInterleaved(ds.low.subarray(i * ln, (i + 1) * ln), low) };
      const truth = ds.high.pixels.subarray(i * hn, (i + 1) * hn);
      const t0 = Date.now();
      const [out] = await upscale(model, { image, seed: SR_EVAL.seed, steps: SR_EVAL.steps, sampler: SR_EVAL.sampler, previewEvery: 0 });
      seconds += (Date.now() - t0) / 1000;
      const [noise] = await upscale(model, { image, seed: SR_EVAL.seed, steps: SR_EVAL.steps, sampler: SR_EVAL.sampler, strength: 1, backProjection: 0, previewEvery: 0 });
      const ours = interleavedToPlanar(out!.image.data, size);
      const bicubic = await resizePlanar(ds.low.subarray(i * ln, (i + 1) * ln), low, size, 'cubic');
      const bicubicImage = { width: size, height: size, data: planarToInterleaved(bicubic, size) };
      add('ours', ours, truth);
      add('fromNoise', interleavedToPlanar(noise!.image.data, size), truth);
      add('bicubic', bicubic, truth);
      add('bicubicBackProjected', interleavedToPlanar(backProject(bicubicImage, image, SR_EVAL.backProjection).data, size), truth);
      onEach?.(i, bicubic, ours);
    }
  } finally {
    await model.close();
  }
  const n = indices.length;
  const mean = (v: { psnr: number; ssim: number }) => ({ psnr: v.psnr / n, ssim: v.ssim / n });
  return {
    count: n,
    ours: mean(sum.ours),
    fromNoise: mean(sum.fromNoise),
    bicubic: mean(sum.bicubic),
    bicubicBackProjected: mean(sum.bicubicBackProjected),
    secondsPerImage: seconds / n,
  };
}

/** LR (nearest ×4) | bicubic | ours | truth, one held-out emoji a row. */
async function samplesPng(file: string, ds: SrDataset, rows: { i: number; bicubic: Uint8Array; ours: Uint8Array }[]): Promise<void> {
  const s = SR_IMAGE_SIZE;
  const gap = 4;
  const W = 4 * s + 3 * gap;
  const H = rows.length * s + (rows.length - 1) * gap;
  const canvas = Buffer.alloc(W * H * 3, 255);
  const hn = 3 * s * s;
  const low = ds.lowSize;
  const ln = 3 * low * low;
  rows.forEach((r, row) => {
    const lr = ds.low.subarray(r.i * ln, (r.i + 1) * ln);
    const nearest = new Uint8Array(hn);
    for (let c = 0; c < 3; c++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
      nearest[c * s * s + y * s + x] = lr[c * low * low + Math.floor(y / 4) * low + Math.floor(x / 4)]!;
    }
    [nearest, r.bicubic, r.ours, ds.high.pixels.subarray(r.i * hn, (r.i + 1) * hn)].forEach((img, col) => {
      for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) for (let c = 0; c < 3; c++) {
        canvas[((row * (s + gap) + y) * W + col * (s + gap) + x) * 3 + c] = img[c * s * s + y * s + x]!;
      }
    });
  });
  await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

function card(o: { scores: SrScores; unetStep: number; aeStep: number; encoderStep: number; scaleFactor: number; shippedPsnr: number; params: number; bytes: number; cpuMinutes: string; sampleNames: string[] }): string {
  const { scores: s } = o;
  const f = (v: number) => v.toFixed(2);
  const g = (v: number) => v.toFixed(4);
  return `# ${SR_MODEL_NAME}

A ×4 super-resolution latent diffusion model (Rombach et al. 2022, §4.4, the paper's LDM-SR): 32×32
pictures → 128×128. Trained from scratch by this project, with its own ONNX trainer, on CPU, on emoji.
It is saved in the paper's CompVis layout (bsr_sr style), so the studio opens it as one of the paper's
releases: "Upscale ×4" in the studio, \`ldm upscale\`, or \`ldm paper ${FILE} --image IN.png --out OUT.png\`.

## Architecture
- First stage: the embedded model's (emoji-ldm-32) KL autoencoder, f=4, 4 latent channels, its decoder
  fine-tuned at 128² with the paper's 32 GroupNorm groups (${o.aeStep} steps) and its encoder re-fitted with 32 groups to
  give the embedded encoder's latents (${o.encoderStep} steps); a 128² picture is a 32×32×4 latent; scale factor ${o.scaleFactor.toFixed(4)}
  (1/std of the training latents), stored in the file as \`scale_factor\`.
- UNet (\`model.diffusion_model.*\`): ${SR_UNET.inChannels} input channels = 4 latent + 3 of the low-resolution
  picture in [−1, 1] concatenated (concat_mode), ${SR_UNET.modelChannels} model channels, mult [${SR_UNET.channelMult.join(', ')}],
  ${SR_UNET.numResBlocks} res block per level, the paper's AttentionBlock in the middle only, ${SR_UNET.numHeadChannels} channels per head; no text.
- Noise schedule: bsr_sr's (CompVis "linear", β ${SR_SCHEDULE.betaStart} → ${SR_SCHEDULE.betaEnd}, ${SR_SCHEDULE.trainTimesteps} steps), ε-prediction,
  stored as the DDPM buffers \`betas\` and \`alphas_cumprod\`. \`${SR_MODEL_NAME}.yaml\` beside the file says the same.
- ${(o.params / 1e6).toFixed(2)}M parameters in all, stored as fp16 (${(o.bytes / 2 ** 20).toFixed(1)} MiB).

## Data and licences
Noto Emoji as SVG from the npm package \`@svgmoji/noto@3.2.0\` (artwork Apache-2.0, Google; package MIT),
rendered at 128×128 on white with \`@resvg/resvg-js@2.6.2\` (MPL-2.0, a build tool only); the
low-resolution inputs are the same pictures shrunk to 32×32 with Lanczos-3 (as the embedded model's
data is made). Captions are not used. The held-out split is the embedded model's (about 5% of concepts,
all tones of an emoji, by a hash of the name); 275 of the 3,781 emoji have no SVG there (or crash the
renderer) and are left out. No images are shipped, only weights.

## Training
\`npm run train:default -- --stage sr-decoder\`, \`--stage sr-encoder\`, then \`--stage sr\`, then \`--stage sr-package\` (each resumes
from its checkpoint under training/embedded-sr/). One onnxruntime thread, on a 2-core machine shared with
other work.
- Latents of all pictures computed once with the embedded encoder (posterior mean and std, cached); each step samples z from the posterior.
- Decoder: ${o.aeStep} steps from the embedded model's weights on random ${SR_DECODER_TRAINING.crop}² latent crops (${SR_DECODER_TRAINING.crop * 4}² pixels),
  batch ${SR_DECODER_TRAINING.batch}, AdamW lr ${SR_DECODER_TRAINING.lr}, L1 + ${AE_TRAINING.gradientWeight}·L1 on image gradients, the encoder frozen.
- Encoder: ${o.encoderStep} steps from the embedded weights, now with 32 groups, on whole 128² training pictures, batch 8,
  AdamW lr 1e-4: MSE to the cached means + 0.1 · MSE to the log-variances of the embedded (16-group) encoder.
- UNet: ${o.unetStep} steps on random ${SR_TRAINING.crop}² latent crops (64² pixels; SR is local) with a random horizontal flip,
  batch ${SR_TRAINING.batch}, AdamW lr ${SR_TRAINING.lr} with ${SR_TRAINING.warmup} warm-up steps, EMA ${SR_TRAINING.emaDecay} (the EMA weights are shipped).
  ε-prediction; the loss weighted by min-SNR-γ=${SR_TRAINING.minSnrGamma} for the first ${SR_TRAINING.vLossFrom} steps, then as the v-prediction loss
  (ε-MSE/ᾱ, capped at ${SR_TRAINING.maxWeight}): min-SNR lets the model be vague about x0 at high noise, where for SR the
  low-resolution picture already says it, and its samples drifted in colour. Sampling takes the whole 32² latent.
- CPU time: ${o.cpuMinutes}.

## Metrics (held-out emoji, ${s.count} pictures)
Ours: the studio's upscale pipeline, ${SR_EVAL.sampler.toUpperCase()} ${SR_EVAL.steps} steps, seed ${SR_EVAL.seed}, at the model's defaults: strength
${SR_EVAL.strength} (the picture enlarged with Lanczos-3, encoded, noised to step ⌊50·(1 − ${SR_EVAL.strength})⌋ and denoised with the
low-resolution picture concatenated), then ${SR_EVAL.backProjection} rounds of back-projection onto the input (Irani & Peleg: shrink with
Lanczos-3, enlarge the error bilinearly, add); and with the paper's sampling (from pure noise, no back-projection). Bicubic: ×4 Catmull-Rom (sharp's
'cubic'). PSNR is the mean over pictures of each picture's PSNR on 8-bit RGB; SSIM as scikit-image's
(Gaussian 11×11, σ 1.5, averaged over R, G, B).

| | PSNR (dB) | SSIM |
|---|---|---|
| bicubic ×4 | ${f(s.bicubic.psnr)} | ${g(s.bicubic.ssim)} |
| bicubic ×4 + ${SR_EVAL.backProjection} rounds of back-projection | ${f(s.bicubicBackProjected.psnr)} | ${g(s.bicubicBackProjected.ssim)} |
| ours, the paper's sampling (from noise, no back-projection) | ${f(s.fromNoise.psnr)} | ${g(s.fromNoise.ssim)} |
| **ours, the defaults (strength ${SR_EVAL.strength}, back-projection ${SR_EVAL.backProjection})** | **${f(s.ours.psnr)}** | **${g(s.ours.ssim)}** |

Without back-projection the first stage bounds what the LDM can reach: decoding the held-out pictures'
latents with the shipped decoder scores ${f(s.autoencoderPsnr)} dB (the embedded model's own decoder at 128²: ${f(o.shippedPsnr)} dB).
Back-projection goes past it because it corrects, in pixels, the low frequencies the decoder and the UNet get
wrong (colour drift, the background), which the input fixes exactly; the UNet adds the edges bicubic blurs
(bicubic given the same back-projection: ${f(s.bicubicBackProjected.psnr)} dB).
Time per picture on this machine (one onnxruntime thread, niced, load average about 13): ${s.secondsPerImage.toFixed(2)} s.

## Samples
\`samples.png\`: one held-out emoji a row; columns: the 32² input (shown ×4, nearest), bicubic ×4, ours,
the 128² truth; ours at the default strength. Rows: ${o.sampleNames.join('; ')}.

## Limits
Trained for about an hour of one shared CPU core, on emoji only: it knows nothing of photographs, and
its first stage (an autoencoder trained on emoji) bounds the detail it can restore (the figure above).
Continue \`npm run train:default -- --stage sr\` to improve it.
Back-projection assumes the input is the picture shrunk with an antialiasing filter (as these were, with
Lanczos-3); for a noisy or blocky input it keeps the noise: upscale with \`--back-projection 0\` (the
paper's way is \`--strength 1 --back-projection 0\`).
`;
}

/** Wall-clock training time of the shipped stages (one niced thread on the shared 2-core machine). */
const SR_CPU_TIME = 'about 14 minutes (decoder), 14 minutes (encoder, at load 13) and 43 minutes (UNet) of wall-clock time on one onnxruntime thread, niced, while other sessions shared the 2 cores';

export interface SrPackageOptions {
  /** Held-out pictures to measure (default all). */
  count?: number;
  cpuMinutes?: string;
  /** Copy into resources/models/ when it beats bicubic (default true; false for a look at a run in progress). */
  ship?: boolean;
}

export async function packageSrModel(o: SrPackageOptions = {}): Promise<SrScores & { shipped: boolean }> {
  const { tensors, unetStep, aeStep, encoderStep, scaleFactor } = await assembleSrRelease();
  rmSync(STAGING_DIR, { recursive: true, force: true });
  mkdirSync(STAGING_DIR, { recursive: true });
  const file = path.join(STAGING_DIR, FILE);
  await saveSafetensors(file, tensors, { format: 'pt', source: `${SR_MODEL_NAME}: npm run train:default -- --stage sr` });
  writeFileSync(path.join(STAGING_DIR, `${SR_MODEL_NAME}.yaml`), releaseYaml(scaleFactor));
  const ds = await loadSrDataset(SR_IMAGE_SIZE, CACHE_DIR);
  const held = ds.high.samples.flatMap((s, i) => (s.heldOut ? [i] : []));
  const indices = held.slice(0, o.count ?? held.length);
  const shownAt = new Set(indices.filter((_, k) => k % Math.max(1, Math.floor(indices.length / 6)) === 0).slice(0, 6));
  const shown: { i: number; bicubic: Uint8Array; ours: Uint8Array }[] = [];
  const r = await evaluateSr(file, ds, indices, (i, bicubic, ours) => {
    if (shownAt.has(i)) shown.push({ i, bicubic, ours });
  });
  const aeWeights = new Map([...tensors].filter(([n]) => n.startsWith('first_stage_model.')).map(([n, t]) => [n, Float32Array.from(t.data as Uint16Array, (h) => halfToFloat(h))]));
  const lat = await srLatentCache(ds, console.log);
  const ae = { psnr: await decoderPsnr(SR_AUTOENCODER, aeWeights, ds, lat, indices) };
  const shippedAe = { psnr: await decoderPsnr(AUTOENCODER, await embeddedAutoencoderWeights(), ds, lat, indices) };
  const scores: SrScores = { ...r, autoencoderPsnr: ae.psnr };
  await samplesPng(path.join(STAGING_DIR, 'samples.png'), ds, shown);
  const params = [...tensors].filter(([n]) => n.includes('.')).reduce((a, [, t]) => a + t.data.length, 0);
  const bytes = readFileSync(file).length;
  writeFileSync(path.join(STAGING_DIR, 'README.md'), card({
    scores, unetStep, aeStep, encoderStep, scaleFactor, shippedPsnr: shippedAe.psnr, params, bytes,
    cpuMinutes: o.cpuMinutes ?? SR_CPU_TIME,
    sampleNames: shown.map((s) => ds.high.samples[s.i]!.caption),
  }));
  const better = r.ours.psnr > r.bicubicBackProjected.psnr && r.ours.ssim > r.bicubicBackProjected.ssim;
  const shipped = better && o.ship !== false;
  console.log(`${SR_MODEL_NAME}: ${r.count} held-out pictures, ours PSNR ${r.ours.psnr.toFixed(2)} dB SSIM ${r.ours.ssim.toFixed(4)} (from noise: ${r.fromNoise.psnr.toFixed(2)} dB); bicubic PSNR ${r.bicubic.psnr.toFixed(2)} dB SSIM ${r.bicubic.ssim.toFixed(4)} (back-projected: ${r.bicubicBackProjected.psnr.toFixed(2)} dB ${r.bicubicBackProjected.ssim.toFixed(4)}); autoencoder ${ae.psnr.toFixed(2)} dB (the embedded one at 128²: ${shippedAe.psnr.toFixed(2)})`);
  if (shipped) {
    rmSync(SR_PACKAGE_DIR, { recursive: true, force: true });
    cpSync(STAGING_DIR, SR_PACKAGE_DIR, { recursive: true });
    console.log(`${SR_PACKAGE_DIR}: written (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
  } else {
    console.log(`not shipped${better ? ' (ship: false)' : ': it does not beat bicubic ×4 (back-projected alike) on both held-out PSNR and SSIM'}; the package is in ${STAGING_DIR}`);
  }
  return { ...scores, shipped };
}
