// The registry of fine-tuning methods: one line per method module.
import { FinetuneError } from '../errors.ts';
import { FINETUNE_METHODS } from './catalog.ts';
import { fullMethod } from './full.ts';
import { loraMethod } from './lora.ts';
import type { FinetuneMethodModule } from './method.ts';
import { tiMethod } from './ti.ts';

export const METHODS: readonly FinetuneMethodModule[] = [loraMethod, fullMethod, tiMethod];

export function finetuneMethod(name: string): FinetuneMethodModule {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new FinetuneError(`unknown method '${name}'; use ${FINETUNE_METHODS.join(', ')}`);
  return m;
}

export { FINETUNE_METHODS, METHOD_CATALOG, type FinetuneMethod, type MethodField, type MethodInfo } from './catalog.ts';
export type { FinetuneMethodModule, MethodSetup } from './method.ts';
