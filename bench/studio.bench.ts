// Studio benchmark (printed, not pass/fail): time from jobs.submit to the first jobs.progress event
// with a cold worker (process start + model load + session builds) and with a warm one (same model,
// sessions kept), through the real queue, worker process and pipeline.
// Run: npx tsx bench/studio.bench.ts [--runs N] [--size PX]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Txt2imgSpec } from '../electron/api/jobs.ts';
import { saveModelPackage, type ModelDescription } from '../electron/engine/io/model-package.ts';
import { randomWeights } from '../electron/engine/nn/models.ts';
import { createStudio, type Studio } from '../electron/services/studio.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const runs = flag('runs', 5);
const size = flag('size', 64);

// The scale of bench/pipeline.bench.ts: a small text-to-image LDM (f = 4), not SD.
const desc: ModelDescription = {
  name: 'bench',
  kind: 'txt2img',
  architecture: {
    unet: { inChannels: 4, outChannels: 4, modelChannels: 64, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [2, 4], numHeadChannels: 32, transformerDepth: 1, contextDim: 128 },
    autoencoder: { kind: 'kl', ch: 32, chMult: [1, 2, 4], numResBlocks: 1, attnResolutions: [], resolution: 64, inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4 },
    textEncoder: { vocabSize: 8, maxLength: 16, width: 128, layers: 2, heads: 4, mlpWidth: 512, activation: 'gelu', causal: true },
  },
  tokenizer: { type: 'word', vocabulary: ['<pad>', '<start>', '<end>', 'a', 'red', 'fox', 'in', 'snow'], maxLength: 16 },
  sampling: { sampler: 'euler_a', steps: 12, guidance: 7, width: size, height: size },
  latentScaleFactor: 1,
  latentPreview: { weights: [[0.3, 0, 0, 0], [0, 0.3, 0, 0], [0, 0, 0.3, 0]], bias: [0, 0, 0] },
  provenance: { createdBy: 'bench/studio.bench.ts' },
  license: 'Apache-2.0',
};

const spec = (seed: number): Txt2imgSpec => ({
  kind: 'txt2img', modelId: 'embedded:bench', prompt: 'a red fox in snow', negativePrompt: '', sampler: 'euler_a',
  steps: 12, guidance: 7, seed, width: size, height: size, batchCount: 1, eta: 0, loras: [],
});

/** ms from submit to the first progress event, and to completion. */
async function timeJob(studio: Studio, seed: number): Promise<{ first: number; done: number }> {
  const t0 = performance.now();
  let first = 0;
  let id = '';
  const finished = new Promise<void>((resolve, reject) => {
    const offP = studio.on('jobs.progress', (p) => {
      if (p.jobId === id && first === 0) (first = performance.now() - t0), offP();
    });
    const offU = studio.on('jobs.updated', (j) => {
      if (j.id !== id || !['completed', 'failed', 'cancelled'].includes(j.status)) return;
      offU();
      j.status === 'completed' ? resolve() : reject(new Error(`job ${j.status}: ${j.error}`));
    });
  });
  id = (await studio.handlers['jobs.submit']({ spec: spec(seed) })).id;
  await finished;
  return { first, done: performance.now() - t0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const root = mkdtempSync(join(tmpdir(), 'ldm-studio-bench-'));
try {
  await saveModelPackage(join(root, 'embedded', 'bench'), desc, randomWeights(desc.architecture, 1));
  const cold: number[] = [];
  const warm: number[] = [];
  const total: number[] = [];
  for (let r = 0; r < runs; r++) {
    const studio = await createStudio({ dataDir: join(root, `data${r}`), transport: 'web', embeddedModelsDir: join(root, 'embedded') });
    try {
      cold.push((await timeJob(studio, r)).first);
      const w = await timeJob(studio, 100 + r);
      warm.push(w.first);
      total.push(w.done);
      if (studio.workerStats().modelLoads.generate !== 1) throw new Error('the warm job loaded the model again');
    } finally {
      await studio.close();
    }
  }
  console.log(`txt2img ${size}x${size}, 12 steps, ${runs} runs (median):`);
  console.log(`  submit → first progress, cold worker: ${median(cold).toFixed(0)} ms  [${cold.map((x) => x.toFixed(0)).join(', ')}]`);
  console.log(`  submit → first progress, warm worker: ${median(warm).toFixed(0)} ms  [${warm.map((x) => x.toFixed(0)).join(', ')}]`);
  console.log(`  cold / warm: ${(median(cold) / median(warm)).toFixed(1)}×; warm job end to end: ${median(total).toFixed(0)} ms`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
