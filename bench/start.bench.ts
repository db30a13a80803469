// Session start of SD 1.x on the CPU (issue 13 goal 3: the second start ≤ 2 s), not a test; prints
// figures. Each case runs in its own process, as a user's start would:
//   first    the weights cache empty: the file's fp16 weights widened, sessions built, first steps;
//   second   the same again with the cache filled by the first (what every later start costs).
// Per case: open (header, family, configs), text encoder (session + one batch-2 encode), UNet session
// build, the first UNet call (batch 2: one CFG step at 512²) and a second one (the step itself); and,
// measured apart in the same process, the UNet's graph build, serialisation and onnxruntime session
// creation. "start → first step" is the time until the first UNet call can begin: open + text + UNet
// session; "start → first step done" adds the step.
//
//   flock /tmp/sd-size.lock npx tsx bench/start.bench.ts [--dir DIR] [--size 512] [--threads 2]
//        [--cases first,second] [--sessions stage|keep] [--out bench/results/start.txt]
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openModel, sha256Files } from '../electron/engine/families/index.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET } from '../electron/engine/nn/config.ts';
import { buildUNetGraph, modelParams } from '../electron/engine/nn/models.ts';
import { resolveFileWeights } from '../electron/engine/pipelines/file-weights.ts';
import type { SessionPolicy } from '../electron/engine/pipelines/loaded-model.ts';
import { createSession, fusedAttentionFor } from '../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../electron/engine/onnx/serialize.ts';
import { tensor } from '../electron/engine/tensor.ts';
import { peakRssMiB, writeStreamedFp16 } from './lib.ts';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const size = Number(flag('--size', '512'));
const threads = Number(flag('--threads', '2'));
const sessions = flag('--sessions', 'stage') as SessionPolicy;
const prompt = 'a photograph of an astronaut riding a horse';

interface Case { file: string; hash: string; cacheDir: string }

interface Result {
  openMs: number;
  textMs: number;
  unetFirstMs: number;
  unetStepMs: number;
  graphMs: number;
  serializeMs: number;
  sessionMs: number;
  sessionPrepackMs: number;
  peakMiB: number;
}

const since = (t: number) => performance.now() - t;

async function runCase(c: Case): Promise<Result> {
  let t = performance.now();
  const { model, opened } = await openModel(c.file, { hash: c.hash, provider: 'cpu', threads, weightCache: { dir: c.cacheDir }, sessions });
  const openMs = since(t);
  t = performance.now();
  const context = await model.encodeText(['', prompt]);
  const textMs = since(t);
  const l = size / 8;
  const x = tensor('float32', [2, 4, l, l], new Float32Array(2 * 4 * l * l).fill(0.1));
  t = performance.now();
  await model.predictNoise(x, 999, context);
  const unetFirstMs = since(t);
  t = performance.now();
  await model.predictNoise(x, 979, context);
  const unetStepMs = since(t);
  await model.release();
  // The UNet session's parts, as LoadedModel builds it (weights cache mapped, optimisation off).
  if (opened.weights.kind !== 'files') throw new Error('an SD file opens as file weights');
  const weights = await resolveFileWeights(opened.name, modelParams({ unet: SD_V1_UNET }), opened.weights.networks.unet, 'unet', { dir: c.cacheDir });
  t = performance.now();
  const g = buildUNetGraph(SD_V1_UNET, { batch: 2, height: l, width: l, contextLength: 77, fusedAttention: fusedAttentionFor('cpu') });
  const graphMs = since(t);
  t = performance.now();
  const bytes = toModelProto(g, weights.mode);
  const serializeMs = since(t);
  const timed = async (prepack: boolean) => {
    const t0 = performance.now();
    const s = await createSession(bytes, { provider: 'cpu', threads, weightsFile: weights.weightsFile, memoryPattern: false, optimization: 'disabled', prepack });
    const ms = since(t0);
    await s.release();
    return ms;
  };
  const sessionMs = await timed(false);
  const sessionPrepackMs = await timed(true);
  return { openMs, textMs, unetFirstMs, unetStepMs, graphMs, serializeMs, sessionMs, sessionPrepackMs, peakMiB: peakRssMiB() };
}

if (args.includes('--case')) {
  console.log(JSON.stringify(await runCase(JSON.parse(flag('--case', '')) as Case)));
  process.exit(0);
}

const s = (ms: number) => (ms / 1000).toFixed(2);
const dir = flag('--dir', path.join(os.tmpdir(), 'ldm-start-bench'));
await fsp.mkdir(dir, { recursive: true });
const file = path.join(dir, 'sd1-random.safetensors');
if (!(await fsp.stat(file).catch(() => null))) {
  const layout = [...modelParams({ unet: SD_V1_UNET, autoencoder: SD_V1_AUTOENCODER, textEncoder: SD_V1_TEXT_ENCODER })].map(([name, p]) => ({ name, shape: [...p.shape] }));
  await writeStreamedFp16(file, layout, {});
}
const hash = (await sha256Files([file])).slice(0, 10);
const cacheDir = path.join(dir, 'weights-cache');
const lines: string[] = [
  `SD 1.x random fp16 weights, ${size}² (UNet batch 2: one CFG step), CPU, ${threads} threads, sessions ${sessions}; ${new Date().toISOString()}; load average ${os.loadavg()[0]!.toFixed(1)}`,
  'case     open s   text s   UNet 1st call s   step s   UNet session s   start→1st step s   start→1st step done s   | UNet graph s   serialise s   session s (prepack)   peak RSS MiB',
];
console.log(lines.join('\n'));
const here = fileURLToPath(import.meta.url);
for (const name of flag('--cases', 'first,second').split(',')) {
  if (name === 'first') await fsp.rm(cacheDir, { recursive: true, force: true });
  const child = spawnSync(process.execPath, [...process.execArgv, here, '--size', String(size), '--threads', String(threads), '--sessions', sessions, '--case', JSON.stringify({ file, hash, cacheDir })], {
    encoding: 'utf8', maxBuffer: 1 << 24,
  });
  const last = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !last.startsWith('{')) {
    lines.push(`${name}: failed (${child.status ?? child.signal}): ${child.stderr.slice(-1500)}`);
    console.log(lines.at(-1));
    continue;
  }
  const r = JSON.parse(last) as Result;
  const unetSession = r.unetFirstMs - r.unetStepMs;
  lines.push([
    name.padEnd(7), s(r.openMs).padStart(7), s(r.textMs).padStart(8), s(r.unetFirstMs).padStart(17), s(r.unetStepMs).padStart(8),
    s(unetSession).padStart(16), s(r.openMs + r.textMs + unetSession).padStart(18), s(r.openMs + r.textMs + r.unetFirstMs).padStart(23), '|',
    s(r.graphMs).padStart(12), s(r.serializeMs).padStart(13), `${s(r.sessionMs)} (${s(r.sessionPrepackMs)})`.padStart(21), r.peakMiB.toFixed(0).padStart(14),
  ].join(' '));
  console.log(lines.at(-1));
}
lines.push(`load average at the end ${os.loadavg()[0]!.toFixed(1)}`);
const out = flag('--out', '');
if (out) {
  await fsp.mkdir(path.dirname(out), { recursive: true });
  await fsp.appendFile(out, `${lines.join('\n')}\n\n`);
}
