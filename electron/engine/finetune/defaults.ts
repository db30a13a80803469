// Fine-tuning defaults: one place for the numbers the pipeline, the CLI's help and the docs share.
import type { LoraTarget } from './lora.ts';

/**
 * ldm-facts §9 scaled to a small model: kohya/OneTrainer LoRA rank 8–16 at lr 1e-4–3e-4 on SD; a
 * model of a few million parameters trains stably at ~10× that, and short runs need alpha = rank.
 * Linear and conv layers as Draw Things trains them: on small UNets the convs carry most of the change.
 * Textual inversion: A1111's 5e-3. Cosine with 10% warm-up (kohya GUI), batch 4 (OneTrainer), min-SNR-γ 5
 * (kohya's recommendation; the embedded model was trained with it).
 */
export const FINETUNE_DEFAULTS = {
  lora: { learningRate: 1e-3, rank: 8, alpha: 8, targets: ['attn', 'ff', 'conv'] as LoraTarget[] },
  full: { learningRate: 2e-4 },
  ti: { learningRate: 5e-3 },
  batchSize: 4,
  warmup: 0.1,
  clipNorm: 1,
  noiseOffset: 0.05,
  minSnrGamma: 5,
  saveEvery: 50,
  sampleSeed: 1234,
  seed: 0,
} as const;
