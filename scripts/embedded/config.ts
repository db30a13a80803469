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

// The ×4 super-resolution LDM (the paper's LDM-SR, bsr_sr layout): 32² pictures → 128² through an
// f=4 KL autoencoder whose latent of a 128² picture is 32², so the low-resolution picture is
// concatenated to the latents as it is. Trained on random latent crops, sampled whole. The paper's
// layout has no place for a GroupNorm group count (CompVis's Normalize is always 32 groups) and the
// embedded autoencoder has 16: the UNet is built with 32, and the decoder is fine-tuned at 128² with 32
// on the latents of the embedded encoder (16 groups), which makes the training latents. Upscaling runs
// only the UNet and the decoder.
export const SR_MODEL_NAME = 'emoji-sr-x4';
export const SR_WORK_DIR = 'training/embedded-sr';
export const SR_IMAGE_SIZE = 128;

/** The autoencoder as the release file holds it (read with 32 groups). */
export const SR_AUTOENCODER: AutoencoderConfig = { ...AUTOENCODER, resolution: 128, normGroups: 32 };

export const SR_UNET: UNetConfig = {
  inChannels: AUTOENCODER.embedDim + 3,
  outChannels: AUTOENCODER.embedDim,
  modelChannels: 64,
  channelMult: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [],
  numHeadChannels: 32,
  transformerDepth: 1,
  contextDim: null,
  normGroups: 32,
  legacyAttention: true,
};

/** bsr_sr's noise schedule (CompVis "linear", β from 0.0015 to 0.0155 over 1000 steps). */
export const SR_SCHEDULE = { kind: 'scaled_linear' as const, betaStart: 0.0015, betaEnd: 0.0155, trainTimesteps: 1000 };
/**
 * min-SNR-γ weighting for the first vLossFrom steps, then the v-prediction loss written for ε
 * (ε-MSE / ᾱ, capped at maxWeight): min-SNR leaves the model free to be vague about x0 at high noise,
 * where for SR the low-resolution picture already says it, and samples drifted in colour.
 */
export const SR_TRAINING = { batch: 16, crop: 16, lr: 4e-4, warmup: 200, emaDecay: 0.999, minSnrGamma: 5, vLossFrom: 2300, maxWeight: 50 };
/** The decoder's fine-tune at 128² with 32 groups: random 16² latent crops (64² pixels). */
export const SR_DECODER_TRAINING = { batch: 8, crop: 16, lr: 2e-4, warmup: 50 };
