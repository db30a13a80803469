// The worker process entry: hosts the engine pipelines behind the job protocol.
import { loadModel } from '../engine/pipelines/loaded-model.ts';
import { generateHandlers, type ModelLoader } from './generate.ts';
import { serveJobs } from './host.ts';

const loadRegistryModel: ModelLoader = async (model, loras) => {
  if (loras.length > 0) throw new Error('generating with LoRAs is not available in this build yet; remove them from the job');
  if (model.format !== 'package') throw new Error(`model "${model.name}" is a ${model.format} model; this build samples model packages only`);
  return loadModel(model.path);
};

serveJobs({
  ...generateHandlers(loadRegistryModel),
  // TODO: wire the fine-tuning pipeline (issue 8) when it lands.
  train: async () => {
    throw new Error('training is not available in this build yet');
  },
});
