// Stable Diffusion 1.x single files (v1-inference.yaml): CLIP ViT-L/14 text tower under
// `cond_stage_model.transformer.text_model.*` (HF CLIPTextModel names; older files lack `text_model.`),
// quick-GELU, causal mask, 77 tokens padded with the end token; UNet with 8 heads per attention layer.
import { describeCompvis, hasCompvisUNet, mapped, openCompvis, TEXT, type CompvisFamily } from './compvis.ts';
import { inferTextEncoderConfig } from './shapes.ts';
import { FamilyError, type ModelFamily, type ModelSource } from './types.ts';

const OLD_TEXT = 'cond_stage_model.transformer';

function hasText(source: ModelSource): boolean {
  const t = source.tensors!;
  return t.has(`${TEXT}.embeddings.token_embedding.weight`) || t.has(`${OLD_TEXT}.embeddings.token_embedding.weight`);
}

const family: CompvisFamily = {
  id: 'sd1',
  label: 'Stable Diffusion 1.x',
  heads: { numHeads: 8 },
  pad: 'end',
  defaultPrediction: 'epsilon',
  nativeSize: () => 512,
  text(source) {
    if (!hasText(source)) throw new FamilyError(`the file has no text encoder (${TEXT}.*): a UNet alone cannot be sampled`);
    const old = !source.tensors!.has(`${TEXT}.embeddings.token_embedding.weight`);
    const m = mapped(source, (n) => ({ source: old && n.startsWith(`${TEXT}.`) ? `${OLD_TEXT}.${n.slice(TEXT.length + 1)}` : n }));
    return { locate: m.locate, config: inferTextEncoderConfig(m.get, TEXT, { headChannels: 64, activation: 'quick_gelu', dropLastLayers: 0 }) };
  },
};

export const sd1: ModelFamily = {
  id: family.id,
  label: family.label,
  recognise: (s) => !!s.tensors && hasCompvisUNet(s) && hasText(s),
  describe: async (s) => describeCompvis(family, s),
  open: (s, o) => openCompvis(family, s, o),
};
