// Session start of SD 1.x on the CPU (issue 13 goal 3: the second start ≤ 2 s), not a test; prints
// figures. Each case runs in its own process, as a user's start would:
//   first    the weights cache empty: the file's fp16 weights widened, sessions built, first steps;
//   second   the same again with the cache filled by the first (what every later start costs).
// Per case, wall and process CPU time of: open (header, family, configs), text encoder (session + one
// batch-2 encode), the UNet's session as LoadedModel builds it (graph, serialisation, onnxruntime session),
// then the pipeline's first UNet call (batch 2: one CFG step at 512²). "start → first step" is the time
// until the first UNet call can begin; "done" adds the step. CPU time is what the work itself costs on
// this shared machine, where wall time depends on everybody else's load.
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

interface Phase { wallMs: number; cpuMs: number }

interface Result {
  open: Phase;
  text: Phase;
  unetGraph: Phase;
  unetSerialise: Phase;
  unetSession: Phase;
  /** The first UNet call through the pipeline (its session built again, then one step). */
  unetFirstCall: Phase;
  peakMiB: number;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Wall and process CPU time (all threads: on a loaded machine, the work itself) of one phase. */
async function timed<T>(fn: () => Promise<T> | T): Promise<[T, Phase]> {
  const [t, c] = [performance.now(), cpuNow()];
  const value = await fn();
  return [value, { wallMs: performance.now() - t, cpuMs: cpuNow() - c }];
}

async function runCase(c: Case): Promise<Result> {
  const [{ model, opened }, open] = await timed(() => openModel(c.file, { hash: c.hash, provider: 'cpu', threads, weightCache: { dir: c.cacheDir }, sessions }));
  const [context, text] = await timed(() => model.encodeText(['', prompt]));
  // The UNet's session as LoadedModel builds it (weights cache mapped, optimisation off, pre-packing as the policy says).
  if (opened.weights.kind !== 'files') throw new Error('an SD file opens as file weights');
  const weights = await resolveFileWeights(opened.name, modelParams({ unet: SD_V1_UNET }), opened.weights.networks.unet, 'unet', { dir: c.cacheDir });
  const l = size / 8;
  const [g, unetGraph] = await timed(() => buildUNetGraph(SD_V1_UNET, { batch: 2, height: l, width: l, contextLength: 77, fusedAttention: fusedAttentionFor('cpu') }));
  const [bytes, unetSerialise] = await timed(() => toModelProto(g, weights.mode));
  const [session, unetSession] = await timed(() => createSession(bytes, {
    provider: 'cpu', threads, weightsFile: weights.weightsFile, memoryPattern: false, optimization: 'disabled', prepack: sessions === 'keep',
  }));
  await session.release();
  const x = tensor('float32', [2, 4, l, l], new Float32Array(2 * 4 * l * l).fill(0.1));
  const [, unetFirstCall] = await timed(() => model.predictNoise(x, 999, context));
  await model.release();
  return { open, text, unetGraph, unetSerialise, unetSession, unetFirstCall, peakMiB: peakRssMiB() };
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
  'Each phase: wall s / process CPU s (all threads). start→1st step = open + text + UNet graph + serialise + session; done = open + text + 1st UNet call.',
  'case     open          text          UNet graph    serialise     session       start→1st step   1st UNet call   start→1st step done   peak RSS MiB',
];
console.log(lines.join('\n'));
const here = fileURLToPath(import.meta.url);
const both = (p: Phase) => `${s(p.wallMs)}/${s(p.cpuMs)}`.padEnd(13);
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
  const sum = (...ps: Phase[]): Phase => ({ wallMs: ps.reduce((a, p) => a + p.wallMs, 0), cpuMs: ps.reduce((a, p) => a + p.cpuMs, 0) });
  lines.push([
    name.padEnd(8), both(r.open), both(r.text), both(r.unetGraph), both(r.unetSerialise), both(r.unetSession),
    both(sum(r.open, r.text, r.unetGraph, r.unetSerialise, r.unetSession)).padEnd(16), both(r.unetFirstCall).padEnd(15),
    both(sum(r.open, r.text, r.unetFirstCall)).padEnd(21), r.peakMiB.toFixed(0).padStart(12),
  ].join(' '));
  console.log(lines.at(-1));
}
lines.push(`load average at the end ${os.loadavg()[0]!.toFixed(1)}`);
const out = flag('--out', '');
if (out) {
  await fsp.mkdir(path.dirname(out), { recursive: true });
  await fsp.appendFile(out, `${lines.join('\n')}\n\n`);
}
