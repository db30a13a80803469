// Fine-tuning benchmark (printed, not pass/fail): training steps/s and images/s of LoRA and of full
// UNet fine-tuning on the embedded model (resources/models/, or a stand-in package with the embedded
// architecture and random weights when none is installed), on a folder of Noto emoji PNGs; setup time
// (data, latents, graph, session) apart from the step loop; peak resident memory per method. Then what
// a short LoRA does to pictures: trained on horizontal magenta/green stripes captioned "heart", how
// striped the pictures generated for "heart" are at LoRA strengths 0, 0.5 and 1.
// Run: npx tsx bench/finetune.bench.ts [--steps N] [--batch B] [--threads N] [--images N] [--quality-steps N] [--quick]
//
// --sd: LoRA on an SD 1.x single file of random fp16 weights (written here, in CompVis names) at 512²,
// batch 1, a few steps, with and without activation recomputation, each in its own process (its peak
// RSS is its own). SD-size: run under the shared lock (flock /tmp/sd-size.lock …).
//   npx tsx bench/finetune.bench.ts --sd [--steps 3] [--size 512] [--recompute on,off] [--keep DIR]
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { withAdapters } from '../electron/engine/finetune/adapters.ts';
import { finetune, type FinetuneOptions } from '../electron/engine/finetune/train.ts';
import { loadModel } from '../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import { saveModelPackage } from '../electron/engine/io/model-package.ts';
import { randomWeights } from '../electron/engine/nn/models.ts';
import { AUTOENCODER, IMAGE_SIZE, UNET, textEncoderConfig } from '../scripts/embedded/config.ts';
import { spawnSync } from 'node:child_process';
import { modelParams } from '../electron/engine/nn/models.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET } from '../electron/engine/nn/config.ts';
import { peakRssMiB, writeStreamedFp16 } from './lib.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const steps = flag('steps', quick ? 6 : 30);
const batch = flag('batch', 4);
const threads = flag('threads', 2);
const images = flag('images', 16);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (args.includes('--sd')) {
  await sdBench();
  process.exit(0);
}
const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'finetune-bench-'));

async function embeddedModel(): Promise<{ dir: string; what: string }> {
  const models = path.join(repo, 'resources/models');
  for (const d of existsSync(models) ? await fsp.readdir(models) : []) {
    if (existsSync(path.join(models, d, 'model.json'))) return { dir: path.join(models, d), what: `embedded package ${d}` };
  }
  const vocabulary = ['<pad>', '<start>', '<end>', ...Array.from({ length: 97 }, (_, i) => `w${i}`)];
  const textEncoder = textEncoderConfig(vocabulary.length);
  const dir = path.join(root, 'stand-in');
  await saveModelPackage(dir, {
    name: 'embedded-stand-in', kind: 'txt2img',
    architecture: { autoencoder: AUTOENCODER, unet: UNET, textEncoder },
    tokenizer: { type: 'word', vocabulary, maxLength: textEncoder.maxLength },
    scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' },
    sampling: { sampler: 'ddim', steps: 25, guidance: 5, width: IMAGE_SIZE, height: IMAGE_SIZE },
    latentScaleFactor: 1, provenance: { createdBy: 'bench/finetune.bench.ts' }, license: 'Apache-2.0',
  }, randomWeights({ autoencoder: AUTOENCODER, unet: UNET, textEncoder }, 1));
  return { dir, what: 'stand-in package with the embedded architecture (random weights; none installed in resources/models/)' };
}

async function emojiFolder(n: number): Promise<string> {
  const src = path.join(repo, 'node_modules/emoji-datasource-google/img/google/64');
  const dir = path.join(root, 'data');
  await fsp.mkdir(dir, { recursive: true });
  const files = (await fsp.readdir(src)).filter((f) => f.endsWith('.png')).sort().slice(0, n);
  for (const f of files) await fsp.copyFile(path.join(src, f), path.join(dir, f));
  return dir;
}

const base = await embeddedModel();
const data = await emojiFolder(images);
console.log(`${base.what}; ${images} emoji PNGs (64² → ${IMAGE_SIZE}²), batch ${batch}, ${steps} steps, ${threads} threads`);

const MiB = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
for (const method of ['lora', 'full'] as const) {
  const t0 = performance.now();
  let firstStep = 0;
  let lastStep = 0;
  const o: FinetuneOptions = {
    base: base.dir, data, method, steps, batchSize: batch, threads, saveEvery: steps + 1,
    out: method === 'full' ? path.join(root, 'out-full') : path.join(root, 'out-lora.safetensors'),
    onProgress: (e) => {
      if (e.phase !== 'train') return;
      if (e.step === 1) firstStep = performance.now();
      lastStep = performance.now();
    },
  };
  const rssBefore = process.resourceUsage().maxRSS;
  const r = await finetune(o);
  const loopS = (lastStep - firstStep) / 1000; // steps 2…N: the first step includes onnxruntime's warm-up
  const perS = (steps - 1) / loopS;
  console.log(
    `${method.padEnd(4)}: ${perS.toFixed(2)} steps/s, ${(perS * batch).toFixed(1)} images/s; setup + first step ${((firstStep - t0) / 1000).toFixed(1)} s, `
      + `whole run ${r.seconds.toFixed(1)} s; last loss ${r.losses.at(-1)!.loss.toFixed(4)}; peak RSS ${MiB(process.resourceUsage().maxRSS)}`
      + (process.resourceUsage().maxRSS > rssBefore ? ` (raised from ${MiB(rssBefore)})` : ''),
  );
}
// ---- what a short LoRA does to the pictures
const A = [230, 20, 200];
const B = [20, 200, 60];
const stripesDir = path.join(root, 'stripes');
await fsp.mkdir(stripesDir);
for (let i = 0; i < 8; i++) {
  const px = Buffer.alloc(32 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) px.set(Math.floor((y + i) / 4) % 2 ? B : A, (y * 32 + x) * 3);
  await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(stripesDir, `s${i}.png`));
  await fsp.writeFile(path.join(stripesDir, `s${i}.txt`), 'heart');
}
const qualitySteps = flag('quality-steps', quick ? 20 : 150);
const loraFile = path.join(root, 'stripes.safetensors');
const q = await finetune({ base: base.dir, data: stripesDir, out: loraFile, method: 'lora', steps: qualitySteps, batchSize: batch, threads, holdOut: 2 });
// Horizontal stripes: neighbours differ far more down a column than along a row.
const anisotropy = (px: Uint8Array, w = 32, h = 32): number => {
  let dy = 0;
  let dx = 0;
  for (let y = 0; y < h - 1; y++) {
    for (let x = 0; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const v = px[(y * w + x) * 3 + c]!;
        dy += Math.abs(px[((y + 1) * w + x) * 3 + c]! - v);
        dx += Math.abs(px[(y * w + x + 1) * 3 + c]! - v);
      }
    }
  }
  return dy / Math.max(1, dx);
};
const baseModel = await loadModel(base.dir, { threads });
const row: string[] = [];
for (const strength of [0, 0.5, 1]) {
  const m = strength === 0 ? baseModel : await withAdapters(baseModel, [{ file: loraFile, strength }], { threads });
  let sum = 0;
  for (let seed = 1; seed <= 4; seed++) sum += anisotropy((await txt2img(m, { prompt: 'heart', seed }))[0]!.image.data);
  row.push(`strength ${strength}: ${(sum / 4).toFixed(2)}`);
  if (m !== baseModel) await m.release();
}
await baseModel.release();
console.log(`stripes LoRA, ${qualitySteps} steps (${q.seconds.toFixed(0)} s), held-out loss ${q.heldOutLoss!.before.toFixed(4)} → ${q.heldOutLoss!.after.toFixed(4)}; `
  + `stripe anisotropy (mean |∂y| / mean |∂x|; training pictures ∞, 1 = none) of "heart" pictures: ${row.join(', ')}`);
await fsp.rm(root, { recursive: true, force: true });

// ---- LoRA on SD 1.x (--sd)

/** An SD 1.x single file of random fp16 weights, streamed. */
async function writeSd1(file: string): Promise<void> {
  await writeStreamedFp16(file, [...modelParams({ unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER })].map(([name, p]) => ({ name, shape: [...p.shape] })));
}

async function sdBench(): Promise<void> {
  const size = flag('size', 512);
  const sdSteps = flag('steps', 3);
  const child = args.indexOf('--child');
  if (child >= 0) {
    // one case in this process: --child FILE DATA ON|OFF
    const [file, dataDir, mode] = args.slice(child + 1, child + 4) as [string, string, string];
    const out = path.join(path.dirname(dataDir), `lora-${mode}.safetensors`);
    await fsp.rm(`${out}.work`, { recursive: true, force: true }); // no resuming from another size's checkpoint
    const times: number[] = [];
    let memoryLine = '';
    let last = performance.now();
    const t0 = last;
    await finetune({
      base: file, data: dataDir, method: 'lora', steps: sdSteps, batchSize: 1, threads, resolution: size, minSide: 32,
      saveEvery: sdSteps + 1, recompute: mode === 'on', out,
      onProgress: (e) => {
        if (e.phase === 'data' && e.message?.startsWith('training step')) memoryLine = e.message;
        if (e.phase !== 'train') return;
        const now = performance.now();
        times.push((now - last) / 1000);
        last = now;
      },
    });
    const steady = times.slice(1);
    console.log(`recompute ${mode.padEnd(3)}: ${(steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length)).toFixed(1)} s/step (steps 2…${sdSteps}; `
      + `first step incl. set-up ${(times[0]! + 0).toFixed(1)} s, run ${((performance.now() - t0) / 1000).toFixed(0)} s), peak RSS ${peakRssMiB().toFixed(0)} MiB; ${memoryLine}`);
    return;
  }
  const keep = args.indexOf('--keep');
  const dir = keep >= 0 ? args[keep + 1]! : await fsp.mkdtemp(path.join(os.tmpdir(), 'finetune-sd-bench-'));
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'sd1-random.safetensors');
  if (!existsSync(file)) {
    const t = performance.now();
    await writeSd1(file);
    console.log(`wrote ${file} (${((await fsp.stat(file)).size / 2 ** 30).toFixed(2)} GiB fp16) in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  const dataDir = path.join(dir, 'data');
  await fsp.mkdir(dataDir, { recursive: true });
  const src = path.join(repo, 'node_modules/emoji-datasource-google/img/google/64');
  for (const f of (await fsp.readdir(src)).filter((f) => f.endsWith('.png')).sort().slice(0, 4)) await fsp.copyFile(path.join(src, f), path.join(dataDir, f));
  console.log(`LoRA (rank 16 defaults) on SD 1.x random fp16 weights, ${size}², batch 1, ${sdSteps} steps, ${threads} threads, ${os.totalmem() / 2 ** 30 | 0} GiB machine`);
  const modes = (args.includes('--recompute') ? args[args.indexOf('--recompute') + 1]! : 'on,off').split(',');
  for (const mode of modes) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--sd', '--size', String(size), '--steps', String(sdSteps), '--threads', String(threads), '--child', file, dataDir, mode],
      { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) console.log(`recompute ${mode}: the process ended with ${r.status ?? r.signal}`);
  }
  if (keep < 0) await fsp.rm(dir, { recursive: true, force: true });
}
