// Config inference from CompVis tensor shapes at full SD size: what the shapes determine is read, the
// head split comes from the family, and a checkpoint that does not fit it is refused.
import { describe, expect, it } from 'vitest';
import { inferAutoencoderConfig, inferTextEncoderConfig, inferUNetConfig, lookupOf } from '../../../electron/engine/families/shapes.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type AutoencoderConfig, type UNetConfig } from '../../../electron/engine/nn/config.ts';
import { modelParams, type ModelConfigs } from '../../../electron/engine/nn/models.ts';
import type { Shape } from '../../../electron/engine/tensor.ts';

function shapesOf(cfg: ModelConfigs, extra: Record<string, Shape> = {}) {
  const m = new Map<string, Shape>([...modelParams(cfg)].map(([k, p]) => [k, p.shape]));
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return lookupOf(m);
}

const U = 'model.diffusion_model';
const T = 'cond_stage_model.transformer.text_model';

// configs/stable-diffusion/v2-inference.yaml
const SD2_UNET: UNetConfig = { ...SD_V1_UNET, numHeads: undefined, numHeadChannels: 64, contextDim: 1024, linearProjection: true };

describe('config inference from shapes', () => {
  it('recovers the SD v1 configs (EMA copies and buffers ignored)', () => {
    const get = shapesOf(
      { unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER },
      { 'model_ema.decay': [], [`${T}.embeddings.position_ids`]: [1, 77] },
    );
    expect(inferUNetConfig(get, U, { numHeads: 8 }, true)).toEqual(SD_V1_UNET);
    expect(inferAutoencoderConfig(get, 'first_stage_model')).toEqual(SD_V1_AUTOENCODER);
    expect(inferTextEncoderConfig(get, T, { headChannels: 64, activation: 'quick_gelu', dropLastLayers: 0 })).toEqual(SD_V1_TEXT_ENCODER);
  });

  it('recovers the SD v2 UNet: linear proj_in, 1024-wide context, 64 channels per head', () => {
    const get = shapesOf({ unet: { ...SD2_UNET } });
    const cfg = inferUNetConfig(get, U, { numHeadChannels: 64 }, true);
    expect({ ...cfg, numHeads: undefined }).toEqual(SD2_UNET);
  });

  it('9-channel inpainting UNets, attention placement, VQ autoencoders and context-free UNets', () => {
    const unet: UNetConfig = { ...SD_V1_UNET, inChannels: 9, attentionResolutions: [4, 2] };
    expect(inferUNetConfig(shapesOf({ unet }), U, { numHeads: 8 }, true)).toEqual(unet);
    const vq: AutoencoderConfig = { kind: 'vq', ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [], resolution: 256, inChannels: 3, outCh: 3, zChannels: 3, embedDim: 3, nEmbed: 32 };
    expect(inferAutoencoderConfig(shapesOf({ autoencoder: vq }), 'first_stage_model')).toEqual(vq);
    const free: UNetConfig = { inChannels: 3, outChannels: 3, modelChannels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [4, 2], numHeads: 8, transformerDepth: 1, contextDim: null };
    expect(inferUNetConfig(shapesOf({ unet: free }), U, { numHeads: 8 })).toEqual(free);
  });

  it('names what is missing and refuses a head split the shapes do not allow', () => {
    expect(() => inferUNetConfig(shapesOf({ autoencoder: SD_V1_AUTOENCODER }), U, { numHeads: 8 })).toThrow(
      /model.diffusion_model.input_blocks.0.0.weight is missing, so the UNet cannot be inferred/,
    );
    // SD v1 (320 channels) read with a family rule of 128 channels per head: 320 is not a multiple.
    expect(() => inferUNetConfig(shapesOf({ unet: SD_V1_UNET }), U, { numHeadChannels: 128 }, true)).toThrow(
      /do not fit this family's 128 channels per head: .*320 channels, not divisible by numHeadChannels 128/,
    );
  });
});
