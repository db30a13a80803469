// A tiny randomly initialised latent diffusion model, made by our code from a fixed seed, for tests.
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { saveModelPackage } from '../../../electron/engine/io/model-package.ts';
import { randomWeights } from '../../../electron/engine/nn/models.ts';
import type { ModelSpec, WeightSource } from '../../../electron/engine/pipelines/loaded-model.ts';

export const TINY_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 16,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [2],
  numHeadChannels: 8,
  transformerDepth: 1,
  contextDim: 16,
  normGroups: 8,
};

export const TINY_AUTOENCODER: AutoencoderConfig = {
  kind: 'kl',
  ch: 8,
  chMult: [1, 2, 2],
  numResBlocks: 1,
  attnResolutions: [],
  resolution: 32,
  inChannels: 3,
  outCh: 3,
  zChannels: 4,
  embedDim: 4,
  normGroups: 4,
};

export const TINY_TEXT: TextEncoderConfig = {
  vocabSize: 64,
  maxLength: 8,
  width: 16,
  layers: 1,
  heads: 2,
  mlpWidth: 32,
  activation: 'gelu',
  causal: true,
};

/** Bytes of the prompt → ids (a stand-in byte tokenizer): BOS 1, ids 3 + (byte mod 61), EOS 2, pad 0. */
export function byteTokenize(text: string, length = TINY_TEXT.maxLength): number[] {
  const bytes = new TextEncoder().encode(text).slice(0, length - 2);
  const ids = [1, ...Array.from(bytes, (b) => 3 + (b % 61)), 2];
  while (ids.length < length) ids.push(0);
  return ids;
}

export function tinySpec(weights: WeightSource, o: { inChannels?: number } = {}): ModelSpec {
  return {
    name: 'tiny',
    hash: '0123456789',
    unet: { ...TINY_UNET, inChannels: o.inChannels ?? 4 },
    autoencoder: TINY_AUTOENCODER,
    textEncoder: TINY_TEXT,
    scaleFactor: 0.5,
    preview: { weights: [[0.3, 0.1, 0, 0], [0, 0.3, 0.1, 0], [0, 0, 0.3, 0.1]], bias: [0, 0, 0] },
    defaults: { sampler: 'ddim', steps: 4, guidance: 5, width: 32, height: 32 },
    schedulerConfig: {},
    tokenize: (t) => byteTokenize(t),
    weights,
  };
}

/**
 * Random weights; the layers the reference initialises to zero (UNet output conv, proj_out, …) get
 * small random values too, so the untrained UNet's prediction is not identically 0.
 */
export function tinyWeights(seed = 1, inChannels = 4): Map<string, Float32Array> {
  const w = randomWeights({ unet: { ...TINY_UNET, inChannels }, autoencoder: TINY_AUTOENCODER, textEncoder: TINY_TEXT }, seed);
  let s = seed >>> 0;
  for (const [name, t] of w) {
    if (!name.endsWith('.weight') || t.some((v) => v !== 0)) continue;
    for (let i = 0; i < t.length; i++) t[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  }
  return w;
}

export const TINY_VOCAB = ['<pad>', '<start>', '<end>', 'a', 'red', 'blue', 'heart', 'square', 'cat'];

/** The tiny model as a package folder on disk (model.json + safetensors), as `ldm --model` loads it. */
export async function saveTinyPackage(dir: string, o: { seed?: number; dtype?: 'F32' | 'F16' } = {}): Promise<void> {
  await saveModelPackage(
    dir,
    {
      name: 'tiny',
      kind: 'txt2img',
      architecture: { autoencoder: TINY_AUTOENCODER, unet: TINY_UNET, textEncoder: TINY_TEXT },
      tokenizer: { type: 'word', vocabulary: TINY_VOCAB, maxLength: TINY_TEXT.maxLength },
      scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' },
      sampling: { sampler: 'ddim', steps: 3, guidance: 5, width: 32, height: 32 },
      latentScaleFactor: 0.5,
      latentPreview: { weights: [[0.3, 0.1, 0, 0], [0, 0.3, 0.1, 0], [0, 0, 0.3, 0.1]], bias: [0, 0, 0] },
      provenance: { createdBy: 'test/engine/pipelines/tiny-model.ts', seed: o.seed ?? 1 },
      license: 'Apache-2.0',
    },
    tinyWeights(o.seed ?? 1),
    { dtype: o.dtype },
  );
}
