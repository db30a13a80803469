// The worker process entry: hosts the engine pipelines behind the job protocol. Models of every family
// (model packages, SD 1.x / 2.x files, diffusers folders) open through engine/families.
import { openModel, parsePrediction } from '../engine/families/index.ts';
import { withAdapters } from '../engine/finetune/adapters.ts';
import { LoadedModel } from '../engine/pipelines/loaded-model.ts';
import { openVaeFile, withVae } from '../engine/pipelines/vae-override.ts';
import { generateHandlers, type ModelLoaders } from './generate.ts';
import { serveJobs } from './host.ts';
import { withReleases } from './release.ts';
import { trainHandler } from './train.ts';

const loaders: ModelLoaders<LoadedModel> = {
  async base(model, cacheDir) {
    if (model.format === 'onnx') {
      throw new Error(`"${model.name}" is an ONNX export; this build samples safetensors models (model packages, SD 1.x/2.x files, diffusers folders)`);
    }
    const prediction = model.prediction ? parsePrediction(model.prediction) : undefined;
    const runtime = { weights: model.weights, weightCache: cacheDir ? { dir: cacheDir } : undefined };
    const opened = (await openModel(model.path, { hash: model.hash.slice(0, 10), prediction, ...runtime })).model;
    return model.vaePath ? new LoadedModel(await withVae(opened.spec, await openVaeFile(model.vaePath)), runtime) : opened;
  },
  // LoRAs and embeddings are merged into the weights once, here; the cached model is then as fast as the base.
  adapt: (base, loras) => withAdapters(base, loras.map((l) => ({ file: l.path, strength: l.strength, textStrength: l.textStrength, name: l.name })), base.runtimeOptions),
  provider: (m) => m.runsOn(),
  warmUp: (m, size, report) => m.warmUp(size.width, size.height, size.guided, (network, i, n, ms) => report(`loaded ${network} (${i}/${n}, ${(ms / 1000).toFixed(1)} s)`)),
};

serveJobs(withReleases({ ...generateHandlers(loaders), train: trainHandler }));
