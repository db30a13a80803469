// This project's model packages (a folder with model.json + safetensors): the configs, tokenizer,
// scheduler and sampling defaults are written in model.json, so nothing is inferred.
import * as path from 'node:path';
import { validateModelPackage } from '../io/model-package.ts';
import { packageTokenizer } from '../pipelines/loaded-model.ts';
import { FamilyError, type ModelFamily, type OpenedModel, type Prediction, type Recognised } from './types.ts';

async function load(dir: string) {
  const pkg = await validateModelPackage(dir);
  const m = pkg.manifest;
  const { unet, textEncoder, autoencoder } = m.architecture;
  if ((m.kind !== 'txt2img' && m.kind !== 'inpaint') || !unet || !textEncoder) {
    throw new FamilyError(`model ${m.name} is a ${m.kind} model; the pipelines sample text-conditioned models (txt2img, inpaint)`);
  }
  if (!m.tokenizer) throw new FamilyError(`model ${m.name}: model.json has no tokenizer for its text encoder`);
  return { pkg, m, unet, textEncoder, autoencoder, kind: m.kind };
}

export const packageFamily: ModelFamily = {
  id: 'package',
  label: 'model package',
  recognise: (s) => s.isDir && !!s.entries?.includes('model.json'),
  async describe(s): Promise<Recognised> {
    const { m, kind } = await load(s.path);
    return {
      family: 'package',
      label: 'model package',
      kind,
      name: m.name,
      files: m.files.filter((f) => f.role === 'weights').map((f) => path.join(s.path, f.path)),
      prediction: (m.scheduler?.prediction ?? 'epsilon') as Prediction,
      notes: [],
    };
  },
  async open(s, o): Promise<OpenedModel> {
    const { pkg, m, unet, textEncoder, autoencoder, kind } = await load(s.path);
    const stated = (m.scheduler?.prediction ?? 'epsilon') as Prediction;
    const prediction = o.prediction ?? stated;
    return {
      family: 'package',
      name: m.name,
      kind,
      unet,
      autoencoder,
      textEncoder,
      scaleFactor: m.latentScaleFactor,
      preview: m.latentPreview ?? null,
      defaults: m.sampling ?? { sampler: 'ddim', steps: 25, guidance: 7.5, width: autoencoder.resolution, height: autoencoder.resolution },
      schedulerConfig: { ...(m.scheduler ?? {}), prediction },
      prediction,
      predictionSource: o.prediction ? 'setting' : 'file',
      tokenize: await packageTokenizer(m.tokenizer!, pkg.dir),
      weights: { kind: 'package', pkg },
      files: m.files.filter((f) => f.role === 'weights').map((f) => path.join(pkg.dir, f.path)),
      notes: [],
    };
  },
};
