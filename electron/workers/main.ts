// The worker process entry: hosts the engine pipelines behind the job protocol.
import { withAdapters } from '../engine/finetune/adapters.ts';
import { loadModel, type LoadedModel } from '../engine/pipelines/loaded-model.ts';
import { generateHandlers, type ModelLoaders } from './generate.ts';
import { serveJobs } from './host.ts';
import { trainHandler } from './train.ts';

const loaders: ModelLoaders<LoadedModel> = {
  async base(model) {
    if (model.format !== 'package') throw new Error(`model "${model.name}" is a ${model.format} model; this build samples model packages only`);
    return loadModel(model.path);
  },
  // LoRAs and embeddings are merged into the weights once, here; the cached model is then as fast as the base.
  adapt: (base, loras) => withAdapters(base, loras.map((l) => ({ file: l.path, strength: l.strength, textStrength: l.textStrength, name: l.name }))),
  provider: (m) => m.provider(),
};

serveJobs({ ...generateHandlers(loaders), train: trainHandler });
