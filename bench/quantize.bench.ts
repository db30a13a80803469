// Weight-only quantisation (issue 13): fp32 against int8 and int4 weights (linear layers through
// MatMulNBits, int8 or int4; convolutions int8 per output channel through DequantizeLinear → Conv), each
// case in its own process so its peak resident memory (VmHWM) is its own.
//  1. The embedded model (resources/models/emoji-ldm-32): txt2img for fixed seeds, PSNR of the final
//     pictures against fp32, and the sampling time as a ratio to fp32 measured in this run.
//  2. An SD v1-size UNet with random weights (fp16 file, as most SD checkpoints): build time, one call,
//     peak RSS and the output's relative error against fp32. The quantised weights are made into a
//     weights-cache file and mapped, as the studio does for checkpoints (the first build writes it).
// Times on a shared machine are only comparable within one run: read the ratios.
// Usage: npm run bench -- --only quantize [--threads 2] [--quick] [--seeds 4] [--steps 20] [--sd-only | --embedded-only] [--precisions fp32,int8,int4] [--convs on|off]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, writeRandomWeights } from './lib.ts';
import { readSafetensorsHeader } from '../electron/engine/io/safetensors.ts';
import { SD_V1_UNET } from '../electron/engine/nn/config.ts';
import { buildUNetGraph } from '../electron/engine/nn/models.ts';
import { weightQuantFor, type WeightPrecision } from '../electron/engine/nn/quantize.ts';
import { quantizedWeightsFile } from '../electron/engine/pipelines/quantized-cache.ts';
import { createSession } from '../electron/engine/onnx/runtime.ts';
import { safetensorsWeights, toModelProto } from '../electron/engine/onnx/serialize.ts';
import { loadModel } from '../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import type { TensorData } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const threads = Number(flag('--threads')) || 2;
const quick = args.includes('--quick');
const seeds = Number(flag('--seeds')) || 4;
const steps = Number(flag('--steps')) || 20;
const latent = quick ? 32 : 64;
const PRECISIONS = (flag('--precisions') ?? 'fp32,int8,int4').split(',') as WeightPrecision[];
/** --convs off: the convolutions stay float32 (only the linear layers quantised), for an A/B in one run. */
const CONVS = flag('--convs') !== 'off';
const MODEL_DIR = path.resolve('resources/models/emoji-ldm-32');


interface EmbeddedResult { loadS: number; sampleS: number; peakMiB: number; images: string[] }
interface UNetResult { buildS: number; runS: number; peakMiB: number; out: string }

async function embeddedCase(weights: WeightPrecision): Promise<EmbeddedResult> {
  const t0 = performance.now();
  const model = await loadModel(MODEL_DIR, { weights, threads, provider: 'cpu' });
  await model.warmUp(32, 32, true);
  const t1 = performance.now();
  const out = await txt2img(model, { prompt: 'a smiling face with sunglasses', seed: 1000, batchCount: seeds, steps });
  const t2 = performance.now();
  await model.release();
  return { loadS: (t1 - t0) / 1000, sampleS: (t2 - t1) / 1000, peakMiB: peakRssMiB(), images: out.map((g) => Buffer.from(g.image.data).toString('base64')) };
}

async function unetCase(weights: WeightPrecision, file: string): Promise<UNetResult> {
  const t0 = performance.now();
  const g = buildUNetGraph(SD_V1_UNET, { batch: 2, height: latent, width: latent, contextLength: 77, fusedAttention: true, weightQuant: weightQuantFor(weights) && { ...weightQuantFor(weights)!, convs: CONVS } });
  const ext = safetensorsWeights(await readSafetensorsHeader(file), path.basename(file));
  // fp16 is not a float32 initializer in place: widened (fp32) or quantised into a file beside it
  const q = await quantizedWeightsFile(g, ext, file, { dir: path.dirname(file) });
  const session = await createSession(toModelProto(g, q.mode), { provider: 'cpu', threads, weightsFile: q.weightsFile, memoryPattern: false, optimization: weights === 'fp32' ? 'basic' : 'disabled' });
  const buildS = (performance.now() - t0) / 1000;
  const fill = (shape: number[]): TensorData => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.8;
    return { dtype: 'float32', shape, data };
  };
  const feeds = { sample: fill([2, 4, latent, latent]), timestep_embedding: fill([2, 320]), encoder_hidden_states: fill([2, 77, 768]) };
  const t1 = performance.now();
  const out = (await session.run(feeds)).out_sample!.data as Float32Array;
  const runS = (performance.now() - t1) / 1000;
  await session.release();
  return { buildS, runS, peakMiB: peakRssMiB(), out: Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64') };
}

/** Random SD v1 UNet weights stored as fp16 (scaled like torch's default init), written once. */
async function writeUNetWeights(dir: string): Promise<string> {
  const g = buildUNetGraph(SD_V1_UNET, { batch: 2, height: latent, width: latent, contextLength: 77 });
  return writeRandomWeights(g, path.join(dir, 'unet.safetensors'), 1);
}

function child<T>(here: string, kind: string, weights: WeightPrecision, extra: string[] = []): T | string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--case', kind, '--weights', weights, '--threads', String(threads),
    '--seeds', String(seeds), '--steps', String(steps), ...(quick ? ['--quick'] : []), ...extra], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) return `failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`;
  return JSON.parse(line) as T;
}

function psnr(a: Buffer, b: Buffer): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const floats = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
};

async function main(): Promise<void> {
  const kind = flag('--case');
  const weights = flag('--weights') as WeightPrecision | undefined;
  if (kind === 'embedded') return console.log(JSON.stringify(await embeddedCase(weights!)));
  if (kind === 'unet') return console.log(JSON.stringify(await unetCase(weights!, flag('--file')!)));
  const here = fileURLToPath(import.meta.url);
  console.log(`load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs; ${threads} threads`);

  if (!args.includes('--sd-only')) await embeddedTable(here);
  if (!args.includes('--embedded-only')) await sdTable(here);
  console.log(`\nload average after: ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
}

async function embeddedTable(here: string): Promise<void> {
  console.log(`\nembedded model ${path.basename(MODEL_DIR)}: txt2img 32², ${seeds} seeds × ${steps} steps, CFG`);
  console.log('weights   load s   sample s   ×fp32   peak RSS MiB   PSNR vs fp32 (min / mean dB)');
  let base: EmbeddedResult | null = null;
  for (const p of PRECISIONS) {
    const r = child<EmbeddedResult>(here, 'embedded', p);
    if (typeof r === 'string') {
      console.log(`${p.padEnd(9)} ${r}`);
      continue;
    }
    base ??= r;
    const ps = r.images.map((img, i) => psnr(Buffer.from(img, 'base64'), Buffer.from(base!.images[i]!, 'base64')));
    const finite = ps.filter(Number.isFinite);
    const mean = finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : Infinity;
    console.log(`${p.padEnd(9)} ${r.loadS.toFixed(2).padStart(6)} ${r.sampleS.toFixed(2).padStart(10)} ${(r.sampleS / base.sampleS).toFixed(2).padStart(7)} ${r.peakMiB.toFixed(0).padStart(14)}   ${p === 'fp32' ? '—' : `${Math.min(...ps).toFixed(1)} / ${mean.toFixed(1)}`}`);
  }

}

async function sdTable(here: string): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-quantize-bench-'));
  try {
    const file = await writeUNetWeights(dir);
    console.log(`\nSD v1 UNet, random fp16 weights, batch 2 at ${latent}² latent (one CFG step at ${latent * 8}²), fused attention, memory pattern off`);
    console.log('weights   build s   run s   ×fp32   peak RSS MiB   rel. error vs fp32');
    let ref: UNetResult | null = null;
    for (const p of PRECISIONS) {
      const r = child<UNetResult>(here, 'unet', p, ['--file', file]);
      if (typeof r === 'string') {
        console.log(`${p.padEnd(9)} ${r}`);
        continue;
      }
      ref ??= r;
      const err = p === 'fp32' ? '—' : relError(floats(r.out), floats(ref.out)).toExponential(2);
      console.log(`${p.padEnd(9)} ${r.buildS.toFixed(1).padStart(7)} ${r.runS.toFixed(2).padStart(7)} ${(r.runS / ref.runS).toFixed(2).padStart(7)} ${r.peakMiB.toFixed(0).padStart(14)}   ${err}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
