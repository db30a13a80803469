// The embedded model's architecture and training recipe: the one place these numbers live.
// Sized for a few CPU hours on 2 cores (see ../shared/reference/training-budget.md): 32×32 images,
// an f=4 KL autoencoder (8×8×4 latents), and a small text-conditional UNet with a word-level
// transformer text encoder trained jointly.
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../electron/engine/nn/config.ts';

export const IMAGE_SIZE = 32;
export const MODEL_NAME = 'emoji-ldm-32';
export const WORK_DIR = 'training/embedded';
export const CACHE_DIR = '.cache/embedded';

export const AUTOENCODER: AutoencoderConfig = {
  kind: 'kl',
  ch: 32,
  chMult: [1, 2, 2],
  numResBlocks: 1,
  attnResolutions: [],
  resolution: IMAGE_SIZE,
  inChannels: 3,
  outCh: 3,
  zChannels: 4,
  embedDim: 4,
  normGroups: 16,
};

export const CONTEXT_LENGTH = 16;

export function textEncoderConfig(vocabSize: number): TextEncoderConfig {
  return {
    vocabSize,
    maxLength: CONTEXT_LENGTH,
    width: 128,
    layers: 2,
    heads: 4,
    mlpWidth: 512,
    activation: 'gelu',
    causal: false,
  };
}

export const UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 64,
  channelMult: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [1, 2, 4],
  numHeadChannels: 32,
  transformerDepth: 1,
  contextDim: 128,
  normGroups: 16,
};

export const AE_TRAINING = { batch: 16, lr: 4.5e-4, klWeight: 1e-6, gradientWeight: 0.5 };
export const LDM_TRAINING = { batch: 32, lr: 4e-4, warmup: 200, captionDropout: 0.1, emaDecay: 0.999, minSnrGamma: 5 };
