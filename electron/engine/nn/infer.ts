// Architecture configs inferred from the tensor names and shapes of an LDM / SD 1.x checkpoint, so a
// bare .safetensors checkpoint loads through the same path as a model package. What the weights
// cannot tell (head count, GroupNorm groups, training resolution) takes the SD v1 values.
import type { Shape } from '../tensor.ts';
import {
  type AutoencoderConfig,
  ConfigError,
  type TextEncoderConfig,
  type UNetConfig,
  validateAutoencoderConfig,
  validateTextEncoderConfig,
  validateUNetConfig,
} from './config.ts';
import { VAE_PREFIX } from './autoencoder.ts';
import { TEXT_PREFIX } from './text-encoder.ts';
import { UNET_PREFIX } from './unet.ts';

export interface InferredArchitecture {
  unet: UNetConfig;
  autoencoder: AutoencoderConfig;
  textEncoder?: TextEncoderConfig;
  /** 'inpaint' when the UNet takes 2·latent + 1 channels. */
  kind: 'txt2img' | 'inpaint' | 'unconditional' | 'class2img';
}

type Shapes = ReadonlyMap<string, Shape>;

function need(shapes: Shapes, name: string, what: string): Shape {
  const s = shapes.get(name);
  if (!s) throw new ConfigError(`checkpoint: ${name} is missing, so the ${what} cannot be inferred (is this an LDM / SD 1.x checkpoint?)`);
  return s;
}

function count(shapes: Shapes, pattern: RegExp): number {
  const seen = new Set<string>();
  for (const k of shapes.keys()) {
    const m = pattern.exec(k);
    if (m) seen.add(m[1]!);
  }
  return seen.size;
}

export function inferUNetConfig(shapes: Shapes, prefix = UNET_PREFIX): UNetConfig {
  const p = (n: string) => `${prefix}.${n}`;
  const conv0 = need(shapes, p('input_blocks.0.0.weight'), 'UNet');
  const mc = conv0[0]!;
  const outChannels = need(shapes, p('out.2.weight'), 'UNet')[0]!;
  let firstOp = 1;
  while (!shapes.has(p(`input_blocks.${firstOp}.0.op.weight`))) {
    if (!shapes.has(p(`input_blocks.${firstOp}.0.in_layers.0.weight`))) {
      // a single-level UNet has no downsampler at all
      break;
    }
    firstOp++;
  }
  const nrb = firstOp - 1;
  if (nrb < 1) throw new ConfigError('checkpoint: the UNet has no ResBlocks in input_blocks.1');
  const levels = count(shapes, new RegExp(`^${escape(p('input_blocks.'))}(\\d+)\\.0\\.op\\.weight$`)) + 1;
  const channelMult: number[] = [];
  const attentionResolutions: number[] = [];
  for (let i = 0; i < levels; i++) {
    const block = 1 + i * (nrb + 1);
    channelMult.push(need(shapes, p(`input_blocks.${block}.0.out_layers.3.weight`), 'UNet channel multipliers')[0]! / mc);
    const projIn = shapes.get(p(`input_blocks.${block}.1.proj_in.weight`));
    if (projIn) {
      if (projIn.length !== 4) {
        throw new ConfigError('checkpoint: SpatialTransformer proj_in is a linear layer (SD 2.x style); only SD 1.x-style 1×1 conv proj_in is supported');
      }
      attentionResolutions.unshift(2 ** i); // descending, as the LDM configs list them
    }
  }
  const depth = count(shapes, new RegExp(`^${escape(p('middle_block.1.transformer_blocks.'))}(\\d+)\\.`));
  // attn2 of a UNet without context attends to its own features: to_k is square at every level.
  const toK = [...shapes.entries()].filter(([k]) => k.startsWith(prefix) && k.endsWith('.attn2.to_k.weight')).map(([, v]) => v);
  const selfOnly = toK.every((s) => s[0] === s[1]) && (new Set(toK.map((s) => s[1])).size > 1 || !shapes.has(`${TEXT_PREFIX}.embeddings.token_embedding.weight`));
  const label = shapes.get(p('label_emb.weight'));
  const cfg: UNetConfig = {
    inChannels: conv0[1]!,
    outChannels,
    modelChannels: mc,
    channelMult,
    numResBlocks: nrb,
    attentionResolutions,
    numHeads: 8,
    transformerDepth: Math.max(depth, 1),
    contextDim: toK.length > 0 && !selfOnly ? toK[0]![1]! : null,
    ...(label ? { numClasses: label[0]! } : {}),
  };
  return validateUNetConfig(cfg, 'inferred unet');
}

export function inferAutoencoderConfig(shapes: Shapes, prefix = VAE_PREFIX): AutoencoderConfig {
  const p = (n: string) => `${prefix}.${n}`;
  const convIn = need(shapes, p('encoder.conv_in.weight'), 'autoencoder');
  const ch = convIn[0]!;
  const levels = count(shapes, new RegExp(`^${escape(p('encoder.down.'))}(\\d+)\\.block\\.`));
  const nrb = count(shapes, new RegExp(`^${escape(p('encoder.down.0.block.'))}(\\d+)\\.`));
  const resolution = 256;
  const chMult: number[] = [];
  const attnResolutions: number[] = [];
  for (let i = 0; i < levels; i++) {
    chMult.push(need(shapes, p(`encoder.down.${i}.block.0.conv2.weight`), 'autoencoder channel multipliers')[0]! / ch);
    if (shapes.has(p(`encoder.down.${i}.attn.0.q.weight`))) attnResolutions.push(resolution / 2 ** i);
  }
  const vq = shapes.has(p('quantize.embedding.weight'));
  const zOut = need(shapes, p('encoder.conv_out.weight'), 'autoencoder')[0]!;
  const quant = need(shapes, p('quant_conv.weight'), 'autoencoder')[0]!;
  const cfg: AutoencoderConfig = {
    kind: vq ? 'vq' : 'kl',
    ch,
    chMult,
    numResBlocks: nrb,
    attnResolutions,
    resolution,
    inChannels: convIn[1]!,
    outCh: need(shapes, p('decoder.conv_out.weight'), 'autoencoder')[0]!,
    zChannels: vq ? zOut : zOut / 2,
    embedDim: vq ? quant : quant / 2,
    ...(vq ? { nEmbed: shapes.get(p('quantize.embedding.weight'))![0]! } : {}),
  };
  return validateAutoencoderConfig(cfg, 'inferred autoencoder');
}

/** HF CLIPTextModel weights (SD v1's text encoder): CLIP's quick-GELU, causal mask and 64-channel heads. */
export function inferTextEncoderConfig(shapes: Shapes, prefix = TEXT_PREFIX): TextEncoderConfig {
  const tok = need(shapes, `${prefix}.embeddings.token_embedding.weight`, 'text encoder');
  const pos = need(shapes, `${prefix}.embeddings.position_embedding.weight`, 'text encoder');
  const fc1 = need(shapes, `${prefix}.encoder.layers.0.mlp.fc1.weight`, 'text encoder');
  const width = tok[1]!;
  const cfg: TextEncoderConfig = {
    vocabSize: tok[0]!,
    maxLength: pos[0]!,
    width,
    layers: count(shapes, new RegExp(`^${escape(`${prefix}.encoder.layers.`)}(\\d+)\\.`)),
    heads: Math.max(1, Math.round(width / 64)),
    mlpWidth: fc1[0]!,
    activation: 'quick_gelu',
    causal: true,
  };
  return validateTextEncoderConfig(cfg, 'inferred textEncoder');
}

/** The UNet, autoencoder and (when present) text encoder of an LDM / SD 1.x checkpoint. */
export function inferArchitecture(shapes: Shapes): InferredArchitecture {
  const unet = inferUNetConfig(shapes);
  const autoencoder = inferAutoencoderConfig(shapes);
  const hasText = shapes.has(`${TEXT_PREFIX}.embeddings.token_embedding.weight`);
  const textEncoder = hasText ? inferTextEncoderConfig(shapes) : undefined;
  const z = autoencoder.embedDim;
  const kind = unet.inChannels === 2 * z + 1 ? 'inpaint' : unet.numClasses ? 'class2img' : unet.contextDim ? 'txt2img' : 'unconditional';
  if (unet.contextDim && !textEncoder && kind !== 'class2img') {
    throw new ConfigError(`checkpoint: the UNet cross-attends to a ${unet.contextDim}-wide context but no ${TEXT_PREFIX}.* text encoder weights are present`);
  }
  return { unet, autoencoder, textEncoder, kind };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
