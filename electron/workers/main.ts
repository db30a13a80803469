// The worker process entry: hosts the engine pipelines behind the job protocol.
import { generateHandlers, type ModelLoader } from './generate.ts';
import { serveJobs } from './host.ts';

// TODO: wire the model-package loader (engine/pipelines loaded-model) and the training pipeline once they land.
const loadModel: ModelLoader = async (model) => {
  throw new Error(`model "${model.name}" cannot be loaded yet: this build has no loader for ${model.format} models`);
};

serveJobs({
  ...generateHandlers(loadModel),
  train: async () => {
    throw new Error('training is not available in this build yet');
  },
});
