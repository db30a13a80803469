// LoRA: adapters on the UNet's (and optionally the text encoder's) layers, written as a kohya file.
import { saveSafetensors } from '../../io/safetensors.ts';
import { FINETUNE_DEFAULTS } from '../defaults.ts';
import { FinetuneError } from '../errors.ts';
import { loraHooks, loraTensors, validateLoraConfig, LoraError } from '../lora.ts';
import { methodInfo } from './catalog.ts';
import type { FinetuneMethodModule } from './method.ts';

export const loraMethod: FinetuneMethodModule = {
  ...methodInfo('lora')!,
  weightDecay: 0.01,
  setup(o) {
    requireFileOut(o.out, 'lora');
    const d = FINETUNE_DEFAULTS.lora;
    try {
      const lora = validateLoraConfig({ rank: o.rank ?? d.rank, alpha: o.alpha ?? o.rank ?? d.alpha, targets: o.targets ?? d.targets });
      return { trigger: o.triggerWord?.trim() ?? '', lora };
    } catch (e) {
      throw e instanceof LoraError ? new FinetuneError(e.message) : e;
    }
  },
  hooks: (s, unet, _text, found) => loraHooks(unet, s.lora!, found),
  trainsText: (s) => s.lora!.targets.includes('text'),
  // The LoRA branches are the only params the base model does not have.
  isTrained: (param, base) => !base.has(param),
  initialParams: () => new Map(),
  adapters: (params, modules, s) => [
    { kind: 'lora', file: 'training.safetensors', tensors: loraTensors(modules, params, s.lora!), metadata: {}, token: null },
  ],
  async write(r) {
    const lora = r.setup.lora!;
    await saveSafetensors(r.out, loraTensors(r.modules, r.params, lora), {
      ...r.metadata,
      ss_network_module: 'networks.lora',
      ss_network_dim: String(lora.rank),
      ss_network_alpha: String(lora.alpha),
      ss_network_args: JSON.stringify({ targets: lora.targets.join(',') }),
    });
  },
};

export function requireFileOut(out: string, method: string): void {
  if (!out.endsWith('.safetensors')) throw new FinetuneError(`${method} writes a .safetensors file; give --out a name ending in .safetensors`);
}
