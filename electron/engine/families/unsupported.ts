// Files we can name but not run: each detector returns one line saying what was found, so the user
// learns why instead of getting a stack trace. Checked when no family recognises the file.
import type { ModelSource, Unsupported } from './types.ts';
import { ldmPaperReleases } from './ldm-paper.ts';

function anyKey(s: ModelSource, test: (k: string) => boolean): boolean {
  if (!s.tensors) return false;
  for (const k of s.tensors.keys()) if (test(k)) return true;
  return false;
}

const line = (what: string) => `this is ${what}, which is not supported: use a Stable Diffusion 1.x or 2.x checkpoint, a diffusers SD folder or a model package`;

export const UNSUPPORTED: readonly Unsupported[] = [
  { detect: (s) => (anyKey(s, (k) => k.startsWith('conditioner.embedders.')) ? line('an SDXL checkpoint (conditioner.embedders.*)') : null) },
  { detect: (s) => (anyKey(s, (k) => k.includes('joint_blocks.')) ? line('an SD3 checkpoint (joint_blocks.*)') : null) },
  { detect: (s) => (anyKey(s, (k) => k.includes('double_blocks.') || k.includes('single_blocks.')) ? line('a Flux checkpoint (double_blocks.*)') : null) },
  {
    detect: (s) =>
      anyKey(s, (k) => k.startsWith('lora_unet_') || k.startsWith('lora_te') || k.includes('.lora_down.') || k.includes('.lora_A.'))
        ? 'this is a LoRA, not a model: load it with a base model (--lora FILE, or the LoRA list in Generate)'
        : null,
  },
  {
    detect: (s) =>
      s.tensors && (s.tensors.has('emb_params') || s.tensors.has('string_to_param.*') || s.tensors.has('clip_l'))
        ? 'this is a textual-inversion embedding, not a model: use it in a prompt with a base model'
        : null,
  },
  {
    // An SD UNet (cross-attention to a 768-wide CLIP or 1024-wide OpenCLIP context) without its text tower.
    detect: (s) => {
      const toK = s.tensors?.get('model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight');
      const ctx = toK?.shape[1];
      return (ctx === 768 || ctx === 1024) && !anyKey(s, (k) => k.startsWith('cond_stage_model.'))
        ? `the UNet cross-attends to ${ctx}-wide text (Stable Diffusion ${ctx === 768 ? '1.x' : '2.x'}) but the file has no text encoder (cond_stage_model.*): a text-to-image model needs both`
        : null;
    },
  },
  // After the other architectures (an SDXL file also has model.diffusion_model.*), before the VAE-alone line
  // (the paper's first stages are autoencoders alone).
  ldmPaperReleases, // the paper's own releases: named, and sent to `ldm paper`
  {
    detect: (s) =>
      s.tensors && !anyKey(s, (k) => k.startsWith('model.diffusion_model.') || k.startsWith('model_ema.')) && anyKey(s, (k) => k.startsWith('encoder.') || k.startsWith('first_stage_model.encoder.')) && anyKey(s, (k) => k.includes('decoder.'))
        ? 'this is an autoencoder (VAE) alone, not a model: a VAE override goes with a base model'
        : null,
  },
];
