// Time and peak resident memory to generate 4 images at 25 steps with a model package, in a fresh
// process so the figure is the studio's own cost. Prints one JSON line.
import { loadModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: measure-generation.ts MODEL_DIR');
const model = await loadModel(dir);
await txt2img(model, { prompt: 'warm up', seed: 0, steps: 2, batchCount: 1 });
const t = performance.now();
await txt2img(model, { prompt: 'red heart, heart', seed: 1, steps: 25, batchCount: 4, guidance: 3, sampler: 'ddim' });
const seconds = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds, peakMiB: process.resourceUsage().maxRSS / 1024 }));
