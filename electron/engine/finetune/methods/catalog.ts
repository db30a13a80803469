// The fine-tuning methods as the contract, the CLI and the Train view describe them: names, labels,
// the settings each one reads and what it writes. Plain data with no Node imports, so electron/api can
// derive its enum from it; the behaviour of each method is in its own module beside this one.

export type FinetuneMethod = 'lora' | 'full' | 'ti';

/** Method-specific settings beyond the common ones (steps, learning rate, batch, …). */
export type MethodField = 'rank' | 'alpha' | 'targets';

export interface MethodInfo {
  readonly name: FinetuneMethod;
  readonly label: string;
  /** One line for help texts and tooltips. */
  readonly summary: string;
  /** 'file': a .safetensors file; 'package': a model package folder. */
  readonly output: 'file' | 'package';
  readonly fields: readonly MethodField[];
  /** Whether the trigger word is required (it is the word the method teaches). */
  readonly triggerRequired: boolean;
  readonly learningRate: number;
}

/**
 * Learning rates: ldm-facts §9 scaled to a small model (kohya/OneTrainer LoRA lr 1e-4–3e-4 on SD; a model
 * of a few million parameters trains stably at ~10× that); textual inversion as A1111 (5e-3).
 */
export const METHOD_CATALOG: readonly MethodInfo[] = [
  {
    name: 'lora', label: 'LoRA', output: 'file', fields: ['rank', 'alpha', 'targets'], triggerRequired: false, learningRate: 1e-3,
    summary: 'small low-rank adapters on the UNet (and optionally the text encoder): a kohya-format .safetensors file',
  },
  {
    name: 'full', label: 'Full fine-tune', output: 'package', fields: [], triggerRequired: false, learningRate: 2e-4,
    summary: 'every UNet weight trains: a new model package',
  },
  {
    name: 'ti', label: 'Textual inversion', output: 'file', fields: [], triggerRequired: true, learningRate: 5e-3,
    summary: 'teaches one new word (the trigger word) while every network stays frozen: an embedding .safetensors file',
  },
];

export const FINETUNE_METHODS = METHOD_CATALOG.map((m) => m.name) as [FinetuneMethod, ...FinetuneMethod[]];

export function methodInfo(name: string): MethodInfo | undefined {
  return METHOD_CATALOG.find((m) => m.name === name);
}
