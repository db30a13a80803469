// Pipeline benchmark (printed, not pass/fail): the txt2img loop's time per step against the bare UNet
// call it is made of (same sessions, same shapes, same run), and images per second end to end.
// Aim: loop/UNet ≤ 1.05. Run: npx tsx bench/pipeline.bench.ts [--threads N] [--steps N] [--size PX]
// [--model DIR] (a model package, e.g. resources/models/emoji-ldm-32, instead of the random stand-in).
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../electron/engine/nn/config.ts';
import { randomWeights } from '../electron/engine/nn/models.ts';
import { LoadedModel, loadModel } from '../electron/engine/pipelines/loaded-model.ts';
import type { DiffusionModel } from '../electron/engine/pipelines/model.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import { float32 } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const threads = flag('threads', 2);
const steps = flag('steps', 12);
const modelDir = args.includes('--model') ? args[args.indexOf('--model') + 1]! : null;

// A small text-to-image LDM (f = 4): the scale of the embedded model, not of SD.
const unet: UNetConfig = {
  inChannels: 4, outChannels: 4, modelChannels: 64, channelMult: [1, 2, 2], numResBlocks: 1,
  attentionResolutions: [2, 4], numHeadChannels: 32, transformerDepth: 1, contextDim: 128,
};
const autoencoder: AutoencoderConfig = {
  kind: 'kl', ch: 32, chMult: [1, 2, 4], numResBlocks: 1, attnResolutions: [], resolution: 64,
  inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4,
};
const textEncoder: TextEncoderConfig = {
  vocabSize: 1000, maxLength: 16, width: 128, layers: 2, heads: 4, mlpWidth: 512, activation: 'gelu', causal: true,
};

const standIn = (): LoadedModel => new LoadedModel(
  {
    name: 'bench', hash: '0000000000', unet, autoencoder, textEncoder, scaleFactor: 1,
    preview: { weights: [[0.3, 0, 0, 0], [0, 0.3, 0, 0], [0, 0, 0.3, 0]], bias: [0, 0, 0] },
    defaults: { sampler: 'euler_a', steps, guidance: 7, width: 64, height: 64 },
    schedulerConfig: {},
    tokenize: (t) => Array.from({ length: 16 }, (_, i) => (i < t.length ? t.charCodeAt(i) % 1000 : 0)),
    weights: { kind: 'memory', tensors: randomWeights({ unet, autoencoder, textEncoder }, 1) },
  },
  { provider: 'cpu', threads },
);
const model = modelDir ? await loadModel(modelDir, { provider: 'cpu', threads }) : standIn();
const size = flag('size', model.defaults.width);
const gen = { prompt: 'a red heart', sampler: 'euler_a', steps, guidance: 7, width: size, height: size };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Bare UNet: the exact call the loop makes (batch 2 for guidance), sessions already built.
const h = size / model.downscale;
const c = model.latentChannels;
const ctx = await model.encodeText(['', 'a red heart']);
const x = float32([2, c, h, h], Array.from({ length: 2 * c * h * h }, (_, i) => Math.sin(i)));
async function bareUnet(): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await model.predictNoise(x, 999 - i * 50, ctx);
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

// The same model with its UNet calls timed, so each loop step splits into UNet time and the rest.
let unetTime = 0;
const timed: DiffusionModel = Object.create(model, {
  predictNoise: {
    value: async (...a: Parameters<DiffusionModel['predictNoise']>) => {
      const t0 = performance.now();
      try {
        return await model.predictNoise(...a);
      } finally {
        unetTime += performance.now() - t0;
      }
    },
  },
});

/**
 * Median step time of the loop (from progress timestamps), the loop's total time over the UNet time
 * inside it (same steps, so immune to machine load), and the run's images per second.
 */
async function pipeline(previewEvery: number, n: number): Promise<{ step: number; overhead: number; imagesPerSecond: number }> {
  const marks: number[] = [];
  const unetAt: number[] = [];
  const t0 = performance.now();
  await txt2img(timed, {
    ...gen, seed: 1, batchCount: n, previewEvery,
    onProgress: () => {
      marks.push(performance.now());
      unetAt.push(unetTime);
    },
  });
  const total = performance.now() - t0;
  const within = marks.slice(1).map((m, i) => [m - marks[i]!, unetAt[i + 1]! - unetAt[i]!] as const).filter((_, i) => (i + 1) % steps !== 0);
  const loop = within.reduce((a, [t]) => a + t, 0);
  const inUnet = within.reduce((a, [, u]) => a + u, 0);
  return { step: median(within.map(([t]) => t)), overhead: loop / inUnet, imagesPerSecond: n / (total / 1000) };
}

// Warm-up builds every session; then trials alternate bare and pipeline runs so machine load hits both alike.
await model.predictNoise(x, 500, ctx);
await txt2img(model, { ...gen, seed: 0, steps: 2 });
const rows: { unet: number; plain: number; preview: number; ips: number; inLoop: number; inLoopPreview: number }[] = [];
for (let trial = 0; trial < 3; trial++) {
  const unetStep = await bareUnet();
  const plain = await pipeline(0, 2);
  const withPreview = await pipeline(1, 1);
  rows.push({
    unet: unetStep, plain: plain.step, preview: withPreview.step, ips: plain.imagesPerSecond,
    inLoop: plain.overhead, inLoopPreview: withPreview.overhead,
  });
}
const med = (k: keyof (typeof rows)[number]): number => median(rows.map((r) => r[k]));
console.log(`${model.name}: txt2img ${size}x${size}, latents ${h}x${h}, ${steps} steps, euler_a, cfg (UNet batch 2), ${threads} threads, median of 3 trials`);
console.log(`  bare UNet call          ${med('unet').toFixed(2)} ms`);
console.log(`  pipeline step           ${med('plain').toFixed(2)} ms  ratio ${median(rows.map((r) => r.plain / r.unet)).toFixed(3)}`);
console.log(`  pipeline step + preview ${med('preview').toFixed(2)} ms  ratio ${median(rows.map((r) => r.preview / r.unet)).toFixed(3)}`);
console.log(`  loop time / UNet time within the same steps: ${med('inLoop').toFixed(3)} (with previews ${med('inLoopPreview').toFixed(3)})`);
console.log(`  images/s end to end     ${med('ips').toFixed(2)} (text encoder, ${steps} steps, VAE decode)`);
await model.release();
