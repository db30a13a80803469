// Training jobs inside a worker: the engine's fine-tuning pipeline (LoRA on packages, SD files and diffusers
// folders; full and textual inversion on packages) with
// checkpoints in the job's work folder, so a job run again after a crash or restart resumes.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TrainSpec } from '../api/jobs.ts';
import { parsePrediction } from '../engine/families/index.ts';
import { methodInfo } from '../engine/finetune/methods/catalog.ts';
import { finetune, type FinetuneProgress } from '../engine/finetune/train.ts';
import type { JobContext, JobHandler } from './host.ts';

/** A file name from the user's model name (letters, digits, - and _ only). */
function fileStem(name: string): string {
  return name.replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'model';
}

export const trainHandler: JobHandler = async (job, ctx) => {
  const spec = job.spec as TrainSpec;
  if (job.model.format === 'onnx') throw new Error(`"${job.model.name}" is an ONNX export; training starts from a model package, an SD 1.x/2.x .safetensors file or a diffusers folder`);
  const stem = fileStem(spec.outputName);
  const out = methodInfo(spec.method)!.output === 'file' ? join(job.workDir, `${stem}.safetensors`) : join(job.workDir, stem);
  const result = await finetune({
    base: job.model.path,
    // the registry hashed a single file already (a package's manifest lists its own)
    baseSha256: job.model.format === 'safetensors' && /^[0-9a-f]{64}$/.test(job.model.hash) ? job.model.hash : undefined,
    prediction: job.model.prediction ? parsePrediction(job.model.prediction) : undefined,
    data: spec.datasetDir,
    out,
    method: spec.method,
    steps: spec.steps,
    workDir: join(job.workDir, 'work'),
    recursive: spec.recursive,
    triggerWord: spec.triggerWord || undefined,
    resolution: spec.resolution,
    buckets: spec.buckets,
    batchSize: spec.batchSize,
    learningRate: spec.learningRate,
    rank: spec.rank,
    alpha: spec.alpha,
    targets: spec.targets,
    saveEvery: spec.saveEvery,
    sampleEvery: spec.sampleEvery,
    samplePrompts: spec.samplePrompts,
    seed: spec.seed,
    name: spec.outputName,
    signal: ctx.signal,
    pause: () => ctx.waitIfPaused(),
    onProgress: progressReporter(ctx, spec.steps),
  });
  if (result.rejected.length) {
    const list = result.rejected.slice(0, 5).map((r) => `${basename(r.path)}: ${r.reason}`).join('; ');
    ctx.progress({ step: spec.steps, total: spec.steps, message: `trained on ${result.images} pictures; ${result.rejected.length} left out (${list})` });
  }
  return { output: { modelPath: result.out, name: spec.outputName } };
};

function progressReporter(ctx: JobContext, total: number): (e: FinetuneProgress) => void {
  let queue: Promise<void> = Promise.resolve();
  return (e) => {
    if (e.phase === 'train') {
      ctx.progress({ step: e.step, total, loss: e.loss === undefined ? [] : [{ step: e.step, loss: e.loss }] });
    } else if (e.phase === 'sample' && e.samples?.length) {
      // The newest sample image becomes the preview.
      const file = e.samples.at(-1)!;
      queue = queue.then(async () => ctx.progress({ step: e.step, total, preview: await readFile(file), message: e.message ?? 'sample images' }));
    } else {
      ctx.progress({ step: e.step, total, message: e.message ?? e.phase });
    }
  };
}
