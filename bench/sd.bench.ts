// Stable Diffusion at full size (not a test; prints figures): writes an SD 1.x (and with --sd2 an SD 2.x
// 768-v) single file of random fp16 weights in the exact CompVis / OpenCLIP layout, then measures what a
// user waits for, each case in its own process (so its peak resident memory is its own):
//   cold   first start: the fp16 weights widened into an empty weights cache, sessions built, sampled;
//   warm   second start (the cache filled by the first): start-to-first-step, s/step, decode, peak RSS;
// each case then encodes the prompts and runs one UNet call at a new size (size − 64) to show what a size
// change costs (sessions: weights cache mapped, nothing widened or constant-folded again).
//
//   npx tsx bench/sd.bench.ts [--sd2] [--size 512] [--steps 2] [--threads 2] [--keep DIR]
//        [--cases cold,warm] [--sessions auto|keep|stage] [--prepack on|off] [--opt disabled|basic] [--weights fp32|int8|int4]
//        [--split on|off] [--arena on|off] [--new-size on|off]
//   --weights takes a list (fp32,int8,int4): each precision runs the cases, and its final picture is compared
//   with the first precision's (PSNR, same seed and prompt); --split: CFG's two halves as two batch-1 UNet
//   calls (default: when staged); --arena: onnxruntime's CPU memory arena; --new-size off skips the size change.
//
// Memory: peak RSS (VmHWM) of the case's process; it counts the mapped weight pages onnxruntime touched
// (file-backed: the kernel can drop them under pressure, unlike the sessions' own allocations).
import { spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openModel, sha256Files } from '../electron/engine/families/index.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type TextEncoderConfig, type UNetConfig } from '../electron/engine/nn/config.ts';
import { modelParams } from '../electron/engine/nn/models.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import { tensor } from '../electron/engine/tensor.ts';
import type { SessionPolicy } from '../electron/engine/pipelines/loaded-model.ts';
import type { WeightPrecision } from '../electron/engine/nn/quantize.ts';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, writeStreamedFp16 } from './lib.ts';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const sd2 = args.includes('--sd2');
const size = Number(flag('--size', sd2 ? '768' : '512'));
const steps = Number(flag('--steps', '2'));
const threads = Number(flag('--threads', '2'));

// configs/stable-diffusion/v2-inference-v.yaml and open_clip ViT-H-14's text tower (run to layer 23 of 24).
const SD2_UNET: UNetConfig = { ...SD_V1_UNET, numHeads: undefined, numHeadChannels: 64, contextDim: 1024, linearProjection: true };
const OPENCLIP_H: TextEncoderConfig = { vocabSize: 49408, maxLength: 77, width: 1024, layers: 24, heads: 16, mlpWidth: 4096, activation: 'gelu', causal: true };

const T = 'cond_stage_model.transformer.text_model';

/** Graph names → the file's names and shapes (SD 2.x: OpenCLIP names, q/k/v fused into in_proj). */
function layout(): { name: string; shape: number[] }[] {
  const unet = sd2 ? SD2_UNET : SD_V1_UNET;
  const text = sd2 ? OPENCLIP_H : SD_V1_TEXT_ENCODER;
  const out: { name: string; shape: number[] }[] = [];
  for (const [name, p] of modelParams({ unet, autoencoder: SD_V1_AUTOENCODER, textEncoder: text })) {
    if (!sd2 || !name.startsWith(`${T}.`)) {
      out.push({ name, shape: [...p.shape] });
      continue;
    }
    const n = name.slice(T.length + 1);
    const o = 'cond_stage_model.model';
    const fixed: Record<string, string> = {
      'embeddings.token_embedding.weight': 'token_embedding.weight',
      'embeddings.position_embedding.weight': 'positional_embedding',
      'final_layer_norm.weight': 'ln_final.weight',
      'final_layer_norm.bias': 'ln_final.bias',
    };
    if (fixed[n]) {
      out.push({ name: `${o}.${fixed[n]}`, shape: [...p.shape] });
      continue;
    }
    const [, layer, part, kind] = /^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n)!;
    const block = `${o}.transformer.resblocks.${layer}`;
    if (part === 'self_attn.q_proj') out.push({ name: `${block}.attn.in_proj_${kind}`, shape: [3 * p.shape[0]!, ...p.shape.slice(1)] });
    else if (part !== 'self_attn.k_proj' && part !== 'self_attn.v_proj') {
      const map: Record<string, string> = { layer_norm1: 'ln_1', layer_norm2: 'ln_2', 'self_attn.out_proj': 'attn.out_proj', 'mlp.fc1': 'mlp.c_fc', 'mlp.fc2': 'mlp.c_proj' };
      out.push({ name: `${block}.${map[part!]}.${kind}`, shape: [...p.shape] });
    }
  }
  return out;
}

/** Random fp16 weights for the chosen layout, streamed (SD 2.x files say they predict v). */
function writeFile(file: string): Promise<number> {
  return writeStreamedFp16(file, layout(), sd2 ? { 'modelspec.prediction_type': 'v' } : {});
}

/** PSNR in dB of 8-bit pictures (Infinity when identical). */
function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Case {
  file: string;
  hash: string;
  cacheDir: string;
  sessions: SessionPolicy;
  prepack?: boolean;
  opt: 'disabled' | 'basic';
  weights: WeightPrecision;
  splitBatch?: boolean;
  memoryArena?: boolean;
  newSize: boolean;
}

interface CaseResult {
  anonMiB: number;
  openMs: number;
  buildMs: number;
  build: string[];
  firstStepMs: number;
  stepMs: number[];
  decodeMs: number;
  peakMiB: number;
  newSizeFirstStepMs: number;
  peakEndMiB: number;
  live: string[];
  /** Per phase: the largest RSS / RssAnon in MiB. */
  phases: string;
  /** The file holding the final picture's RGB bytes. */
  image: string;
}

/**
 * The largest anonymous resident memory seen (RssAnon, sampled every 100 ms while onnxruntime runs on its
 * own threads): the memory the process holds, without the mapped weight pages the kernel may drop and re-read.
 */
function anonSampler(): { stop(): number; enter(phase: string): void; phases(): string } {
  let max = 0;
  let phase = 'start';
  const byPhase = new Map<string, { rss: number; anon: number }>();
  const sample = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const mib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
    const [rss, anon] = [mib('VmRSS'), mib('RssAnon')];
    max = Math.max(max, anon);
    const p = byPhase.get(phase) ?? { rss: 0, anon: 0 };
    byPhase.set(phase, { rss: Math.max(p.rss, rss), anon: Math.max(p.anon, anon) });
  };
  const timer = setInterval(sample, 100);
  return {
    stop: () => (clearInterval(timer), sample(), max),
    /** From now on samples count for `name` (the largest RSS and RssAnon per phase say where the peak is). */
    enter: (name) => (sample(), (phase = name)),
    phases: () => [...byPhase].map(([k, v]) => `${k} ${v.rss.toFixed(0)}/${v.anon.toFixed(0)}`).join(', '),
  };
}

/** One generation (start to first step, steps, decode), then one step at a new size; in this process. */
async function runCase(c: Case): Promise<CaseResult> {
  const anon = anonSampler();
  const t0 = performance.now();
  const { model } = await openModel(c.file, {
    hash: c.hash, provider: 'cpu', threads, weightCache: { dir: c.cacheDir }, sessions: c.sessions, prepack: c.prepack, optimization: c.opt, weights: c.weights,
    splitBatch: c.splitBatch, memoryArena: c.memoryArena,
  });
  const openMs = performance.now() - t0;
  // The sessions this policy builds up front (staged: the text encoder's; the others' weights prepared).
  const build: string[] = [];
  await model.warmUp(size, size, true, (net, _i, _n, ms) => build.push(`${net} ${(ms / 1000).toFixed(1)}`));
  const buildMs = performance.now() - t0 - openMs;
  const marks: number[] = [];
  const gen = (s: number, n: number) => txt2img(model, {
    prompt: 'a photograph of an astronaut riding a horse', seed: 1, steps: n, sampler: 'euler', width: s, height: s, previewEvery: 0,
    onProgress: () => {
      marks.push(performance.now());
      if (marks.length === n) anon.enter('vae');
    },
  });
  anon.enter('text+unet');
  const [picture] = await gen(size, steps);
  const end = performance.now();
  const stepMs = marks.slice(1).map((m, i) => m - marks[i]!);
  const result = { anonMiB: anon.stop(), openMs, buildMs, build, firstStepMs: marks[0]! - t0, stepMs, decodeMs: end - marks[marks.length - 1]!, peakMiB: peakRssMiB(), live: model.liveNetworks(), phases: anon.phases(),
    image: path.join(c.cacheDir, '..', `picture-${c.weights}-${process.pid}.rgb`) };
  await fsp.writeFile(result.image, picture!.image.data);
  marks.length = 0;
  if (!c.newSize) {
    await model.release();
    return { ...result, newSizeFirstStepMs: NaN, peakEndMiB: peakRssMiB() };
  }
  const t1 = performance.now();
  // A new size: the text encoded again and one UNet call (batch 2) at (size − 64)², no decode.
  const context = await model.encodeText(['', 'a photograph of an astronaut riding a horse']);
  const l = (size - 64) / 8;
  await model.predictNoise(tensor('float32', [2, 4, l, l], new Float32Array(2 * 4 * l * l).fill(0.1)), 500, context);
  const newSizeFirstStepMs = performance.now() - t1;
  await model.release();
  return { ...result, newSizeFirstStepMs, peakEndMiB: peakRssMiB() };
}

if (args.includes('--case')) {
  console.log(JSON.stringify(await runCase(JSON.parse(flag('--case', '')) as Case)));
  process.exit(0);
}

const dir = args.includes('--keep') ? flag('--keep', '') : await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sd-bench-'));
await fsp.mkdir(dir, { recursive: true });
const file = path.join(dir, sd2 ? 'sd2-768-v-random.safetensors' : 'sd1-random.safetensors');
const cacheDir = path.join(dir, 'weights-cache');
try {
  let t = performance.now();
  const bytes = (await fsp.stat(file).catch(() => null))?.size ?? (await writeFile(file));
  console.log(`${sd2 ? 'SD 2.x 768-v' : 'SD 1.x'} random fp16 file: ${mb(bytes)} (${sec(performance.now() - t)} to write or find)`);
  t = performance.now();
  const hash = (await sha256Files([file])).slice(0, 10);
  console.log(`A1111 hash ${hash}: ${sec(performance.now() - t)} (once per file; the registry caches it)`);
  t = performance.now();
  const { opened } = await openModel(file, { hash, provider: 'cpu', threads });
  console.log(`open (header, family ${opened.family}, configs from shapes): ${sec(performance.now() - t)}; predicts ${opened.prediction}`);
  const base: Case = {
    file, hash, cacheDir,
    sessions: flag('--sessions', 'auto') as SessionPolicy,
    prepack: args.includes('--prepack') ? flag('--prepack', 'on') === 'on' : undefined,
    opt: flag('--opt', 'disabled') as Case['opt'],
    weights: 'fp32',
    newSize: flag('--new-size', 'on') === 'on',
    splitBatch: args.includes('--split') ? flag('--split', 'on') === 'on' : undefined,
    memoryArena: args.includes('--arena') ? flag('--arena', 'on') === 'on' : undefined,
  };
  console.log(`${size}², batch 2 (CFG), ${steps} euler steps, ${threads} threads; sessions ${base.sessions}, prepack ${base.prepack === undefined ? 'default (on when kept)' : base.prepack ? 'on' : 'off'}, optimisation ${base.opt}, split CFG ${base.splitBatch === undefined ? 'default (when staged)' : base.splitBatch ? 'on' : 'off'}, arena ${base.memoryArena === false ? 'off' : 'on'}; load average ${os.loadavg()[0]!.toFixed(1)}`);
  console.log('case  weights   open s   sessions s   start→1st step s   s/step        decode s   peak RSS MiB   ' + `new size ${size - 64}²: text+UNet s   sessions left   peak at end MiB   PSNR dB`);
  const here = fileURLToPath(import.meta.url);
  const precisions = flag('--weights', 'fp32').split(',') as WeightPrecision[];
  const firstImage = new Map<string, Buffer>();
  for (const weights of precisions) for (const name of flag('--cases', 'cold,warm').split(',')) {
    if (name === 'cold') await fsp.rm(cacheDir, { recursive: true, force: true });
    const child = spawnSync(process.execPath, [...process.execArgv, here, ...(sd2 ? ['--sd2'] : []), '--size', String(size), '--steps', String(steps), '--threads', String(threads), '--case', JSON.stringify({ ...base, weights })], {
      encoding: 'utf8', maxBuffer: 1 << 24,
    });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !line.startsWith('{')) {
      console.log(`${name}: failed (${child.status ?? child.signal}): ${child.stderr.slice(-2000)}`);
      continue;
    }
    const r = JSON.parse(line) as CaseResult;
    const image = await fsp.readFile(r.image);
    await fsp.rm(r.image, { force: true });
    const ref = firstImage.get(name);
    if (!ref) firstImage.set(name, image);
    console.log([
      name.padEnd(5), weights.padEnd(7), (r.openMs / 1000).toFixed(2).padStart(7), (r.buildMs / 1000).toFixed(2).padStart(11), (r.firstStepMs / 1000).toFixed(2).padStart(18),
      r.stepMs.map((x) => (x / 1000).toFixed(2)).join(', ').padStart(13), (r.decodeMs / 1000).toFixed(2).padStart(10),
      r.peakMiB.toFixed(0).padStart(14), (r.newSizeFirstStepMs / 1000).toFixed(2).padStart(26), r.live.join('+').padStart(15), r.peakEndMiB.toFixed(0).padStart(17),
      (ref ? psnr(image, ref).toFixed(1) : '—').padStart(9),
    ].join(' '));
    console.log(`       sessions built up front (s): ${r.build.join(', ')}; peak anonymous memory (RssAnon) ${r.anonMiB?.toFixed(0)} MiB; largest RSS/RssAnon MiB by phase: ${r.phases}; load average ${os.loadavg()[0]!.toFixed(1)}`);
  }
  const cached = await fsp.readdir(cacheDir).catch(() => []);
  let cacheBytes = 0;
  for (const n of cached) cacheBytes += (await fsp.stat(path.join(cacheDir, n))).size;
  console.log(`weights cache: ${cached.length} files, ${mb(cacheBytes)}`);
} finally {
  if (!args.includes('--keep')) await fsp.rm(dir, { recursive: true, force: true });
}
