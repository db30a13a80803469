// Fine-tuning defaults: one place for the numbers the pipeline, the CLI's help and the docs share.
import type { LoraTarget } from './lora.ts';

/**
 * ldm-facts §9 scaled to a small model: kohya/OneTrainer LoRA rank 8–16 on SD; short runs need alpha = rank.
 * Linear and conv layers as Draw Things trains them: on small UNets the convs carry most of the change.
 * Cosine with 10% warm-up (kohya GUI), batch 4 (OneTrainer), min-SNR-γ 5 (kohya's recommendation; the
 * embedded model was trained with it). Each method's learning rate is in methods/catalog.ts.
 */
export const FINETUNE_DEFAULTS = {
  lora: { rank: 8, alpha: 8, targets: ['attn', 'ff', 'conv'] as LoraTarget[] },
  batchSize: 4,
  warmup: 0.1,
  clipNorm: 1,
  noiseOffset: 0.05,
  minSnrGamma: 5,
  saveEvery: 50,
  sampleSeed: 1234,
  seed: 0,
} as const;
