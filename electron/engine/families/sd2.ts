// Stable Diffusion 2.x single files (v2-inference.yaml, v2-inference-v.yaml): the OpenCLIP ViT-H/14 text
// tower under `cond_stage_model.model.*` (fused in_proj attention weights, GELU, causal mask), read at
// its penultimate layer and then through the final LayerNorm (FrozenOpenCLIPEmbedder, layer="penultimate");
// prompts padded with 0; UNet with 64 channels per head and Linear proj_in/proj_out. The 512-base model
// predicts ε and the 768-v model v: the file's metadata says which when it can, else the user's setting.
import { describeCompvis, hasCompvisUNet, mapped, openCompvis, TEXT, type CompvisFamily, type Mapped } from './compvis.ts';
import { inferTextEncoderConfig } from './shapes.ts';
import { FamilyError, type ModelFamily, type ModelSource } from './types.ts';

const OPENCLIP = 'cond_stage_model.model';

/** A CLIPTextModel parameter name (under TEXT) → where open_clip keeps it. */
export function openClipName(name: string): Mapped | undefined {
  if (!name.startsWith(`${TEXT}.`)) return undefined;
  const n = name.slice(TEXT.length + 1);
  const fixed: Record<string, string> = {
    'embeddings.token_embedding.weight': 'token_embedding.weight',
    'embeddings.position_embedding.weight': 'positional_embedding',
    'final_layer_norm.weight': 'ln_final.weight',
    'final_layer_norm.bias': 'ln_final.bias',
  };
  if (fixed[n]) return { source: `${OPENCLIP}.${fixed[n]}` };
  const m = /^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
  if (!m) return undefined;
  const [, layer, part, kind] = m as unknown as [string, string, string, string];
  const block = `${OPENCLIP}.transformer.resblocks.${layer}`;
  const qkv = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'].indexOf(part);
  if (qkv >= 0) return { source: `${block}.attn.in_proj_${kind}`, part: { index: qkv, of: 3 } };
  const parts: Record<string, string> = {
    layer_norm1: 'ln_1',
    layer_norm2: 'ln_2',
    'self_attn.out_proj': 'attn.out_proj',
    'mlp.fc1': 'mlp.c_fc',
    'mlp.fc2': 'mlp.c_proj',
  };
  return parts[part] ? { source: `${block}.${parts[part]}.${kind}` } : undefined;
}

function hasText(source: ModelSource): boolean {
  return source.tensors!.has(`${OPENCLIP}.token_embedding.weight`);
}

const family: CompvisFamily = {
  id: 'sd2',
  label: 'Stable Diffusion 2.x',
  heads: { numHeadChannels: 64 },
  pad: 0,
  defaultPrediction: 'epsilon',
  nativeSize: (p) => (p === 'v_prediction' ? 768 : 512),
  text(source) {
    if (!hasText(source)) throw new FamilyError(`the file has no OpenCLIP text encoder (${OPENCLIP}.*): a UNet alone cannot be sampled`);
    const m = mapped(source, openClipName);
    return { locate: m.locate, config: inferTextEncoderConfig(m.get, TEXT, { headChannels: 64, activation: 'gelu', dropLastLayers: 1 }) };
  },
};

export const sd2: ModelFamily = {
  id: family.id,
  label: family.label,
  recognise: (s) => !!s.tensors && hasCompvisUNet(s) && hasText(s),
  describe: async (s) => describeCompvis(family, s),
  open: (s, o) => openCompvis(family, s, o),
};
