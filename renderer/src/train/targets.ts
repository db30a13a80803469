// LoRA's "which layers get adapters" as the Train form offers it: a few sensible sets rather than every
// combination; 'auto' leaves the choice to the fine-tuning pipeline (engine/finetune/defaults.ts).
import type { TrainSpec } from '../../../electron/api/jobs.ts';

export type LoraTargets = NonNullable<TrainSpec['targets']>;

export const TARGET_CHOICES: readonly { id: string; label: string; targets: LoraTargets | undefined }[] = [
  { id: 'auto', label: 'Auto (the method’s choice)', targets: undefined },
  { id: 'attn', label: 'Attention only', targets: ['attn'] },
  { id: 'attn-ff', label: 'Attention + feed-forward', targets: ['attn', 'ff'] },
  { id: 'unet', label: 'All UNet layers (+ convolutions)', targets: ['attn', 'ff', 'conv'] },
  { id: 'all', label: 'UNet + text encoder', targets: ['attn', 'ff', 'conv', 'text'] },
];
