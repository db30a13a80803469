// Files we can name but not run: each detector returns one line saying what was found, so the user
// learns why instead of getting a stack trace. Checked before the families.
import type { ModelSource, Unsupported } from './types.ts';

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
    detect: (s) =>
      s.tensors && !anyKey(s, (k) => k.startsWith('model.diffusion_model.') || k.startsWith('model_ema.')) && anyKey(s, (k) => k.startsWith('encoder.') || k.startsWith('first_stage_model.encoder.')) && anyKey(s, (k) => k.includes('decoder.'))
        ? 'this is an autoencoder (VAE) alone, not a model: a VAE override goes with a base model'
        : null,
  },
  {
    detect: (s) =>
      anyKey(s, (k) => k.startsWith('model.diffusion_model.') || k.startsWith('model_ema.')) &&
      !anyKey(s, (k) => k.startsWith('cond_stage_model.'))
        ? 'the checkpoint has a UNet (model.diffusion_model.*) but no text encoder (cond_stage_model.*): a text-to-image model needs both'
        : null,
  },
];
