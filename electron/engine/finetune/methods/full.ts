// Full fine-tuning: every UNet weight trains, starting from the base model's; the result is a new
// model package that records what it was fine-tuned from.
import { saveModelPackage } from '../../io/model-package.ts';
import type { TensorData } from '../../tensor.ts';
import { FinetuneError } from '../errors.ts';
import { withTrained } from '../output.ts';
import { methodInfo } from './catalog.ts';
import type { FinetuneMethodModule } from './method.ts';

const UNET = 'model.diffusion_model.';

export const fullMethod: FinetuneMethodModule = {
  ...methodInfo('full')!,
  weightDecay: 0.01,
  setup(o, manifest) {
    if (!manifest) throw new FinetuneError('full fine-tuning of Stable Diffusion files and diffusers folders is not supported yet (it starts from a model package); use lora');
    if (o.out.endsWith('.safetensors')) throw new FinetuneError(`full fine-tuning writes a model package folder; --out ${o.out} looks like a file`);
    return { trigger: o.triggerWord?.trim() ?? '' };
  },
  hooks: () => null,
  trainsText: () => false,
  isTrained: (param) => param.startsWith(UNET),
  initialParams: (trained, base) => new Map(trained.map((n) => [n, base.get(n)!])),
  adapters: () => [],
  async write(r) {
    if (!r.manifest) throw new FinetuneError('full fine-tuning writes a model package and needs a model package as its base');
    const { files: _files, format: _format, version: _version, ...desc } = r.manifest;
    const baseSha = r.metadata['ldm_studio.base_model_sha256']!;
    await saveModelPackage(r.out, {
      ...desc,
      name: r.name,
      provenance: { ...r.manifest.provenance, finetunedFrom: { name: r.manifest.name, sha256: baseSha }, finetune: r.metadata },
    }, withTrained(r.base, r.params) as ReadonlyMap<string, TensorData | Float32Array>);
  },
};
