import { describe, expect, it } from 'vitest';
import type { Shape } from '../../../electron/engine/tensor.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type AutoencoderConfig, type UNetConfig } from '../../../electron/engine/nn/config.ts';
import { inferArchitecture } from '../../../electron/engine/nn/infer.ts';
import { modelParams, type ModelConfigs } from '../../../electron/engine/nn/models.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET } from './helpers.ts';

function shapesOf(cfg: ModelConfigs, extra: Record<string, Shape> = {}): Map<string, Shape> {
  const m = new Map<string, Shape>([...modelParams(cfg)].map(([k, p]) => [k, p.shape]));
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

describe('architecture inference from checkpoint tensors', () => {
  it('recovers the SD v1 configs (and ignores EMA copies and buffers)', () => {
    const shapes = shapesOf(
      { unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER },
      { 'model_ema.decay': [], 'cond_stage_model.transformer.text_model.embeddings.position_ids': [1, 77], alphas_cumprod: [1000] },
    );
    const a = inferArchitecture(shapes);
    expect(a.kind).toBe('txt2img');
    expect(a.unet).toEqual(SD_V1_UNET);
    expect(a.autoencoder).toEqual(SD_V1_AUTOENCODER);
    expect(a.textEncoder).toEqual(SD_V1_TEXT_ENCODER);
  });

  it('recognises 9-channel inpainting, attention placement, VQ autoencoders and context-free UNets', () => {
    const unet: UNetConfig = { ...SD_V1_UNET, inChannels: 9, attentionResolutions: [4, 2] };
    expect(inferArchitecture(shapesOf({ unet, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER })).kind).toBe('inpaint');
    expect(inferArchitecture(shapesOf({ unet, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER })).unet.attentionResolutions).toEqual([4, 2]);
    const vq: AutoencoderConfig = { ...TINY_KL, kind: 'vq', nEmbed: 32, embedDim: 3, zChannels: 3, normGroups: undefined, ch: 32, resolution: 256 };
    const tinyUnet: UNetConfig = { ...TINY_UNET, inChannels: 3, outChannels: 3, modelChannels: 32, normGroups: undefined, contextDim: null, numHeadChannels: undefined, numHeads: 8, channelMult: [1, 2, 2], attentionResolutions: [4, 2] };
    const a = inferArchitecture(shapesOf({ unet: tinyUnet, autoencoder: vq }));
    expect(a.autoencoder).toEqual(vq);
    expect(a.unet).toEqual(tinyUnet);
    expect(a.kind).toBe('unconditional');
  });

  it('says what is missing for a checkpoint of something else', () => {
    const shapes = shapesOf({ autoencoder: TINY_KL, textEncoder: TINY_TEXT });
    expect(() => inferArchitecture(shapes)).toThrow(/model.diffusion_model.input_blocks.0.0.weight is missing, so the UNet cannot be inferred/);
    const sd2 = shapesOf({ unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER }, {
      'model.diffusion_model.input_blocks.1.1.proj_in.weight': [320, 320],
    });
    expect(() => inferArchitecture(sd2)).toThrow(/SD 2.x style/);
    const noText = shapesOf({ unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER });
    expect(() => inferArchitecture(noText)).toThrow(/768-wide context but no cond_stage_model.transformer.text_model/);
  });
});
