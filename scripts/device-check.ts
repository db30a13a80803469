// SD-size check on whichever GPU provider onnxruntime loads here (issue 13 goal 5), in one table:
// the SD v1 UNet (batch 2 at 64² latent: one CFG step at 512²), the VAE decoder (to 512²) and the CLIP
// text encoder (batch 2), random fp16 weights, each as the float32 graph and as the float16 variant
// (onnx/float16.ts, with the provider's float16 options). Per row: session build, first call, steady
// call (median of 3), peak device memory (CUDA: nvidia-smi; elsewhere n/a), the output's largest
// difference from the float32 row and its count of non-finite values (float16 overflow); on providers
// that can keep outputs on the device (webgpu), the UNet's output fed back as its input 3 times
// without leaving the device. Each case runs in its own process (its own device memory), the first
// provider that starts first; a deadline leaves the rest out with a note. Run through
// scripts/device-check.sh.
//
//   node --import tsx scripts/device-check.ts [--cpu] [--tiny] [--provider P] [--deadline S]
//     --cpu   measure the CPU provider (float16 rows run through onnxruntime's inserted casts)
//     --tiny  small networks at 8² latent: a dry run of the script in seconds
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsHeader } from '../electron/engine/io/safetensors.ts';
import {
  SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type AutoencoderConfig, type TextEncoderConfig, type UNetConfig,
} from '../electron/engine/nn/config.ts';
import { buildTextEncoderGraph, buildUNetGraph, buildVaeDecoderGraph } from '../electron/engine/nn/models.ts';
import { float16Weights, toFloat16 } from '../electron/engine/onnx/float16.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import {
  availableProviders, createSession, deviceOutputsFor, float16OptionsFor, fusedAttentionFor, type DeviceTensor, type GraphPrecision, type Provider,
} from '../electron/engine/onnx/runtime.ts';
import { safetensorsWeights, toModelProto } from '../electron/engine/onnx/serialize.ts';
import type { TensorData } from '../electron/engine/tensor.ts';
import { writeRandomWeights } from '../bench/lib.ts';

const args = process.argv.slice(2);
const flag = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const tiny = args.includes('--tiny');

const TINY_UNET: UNetConfig = {
  inChannels: 4, outChannels: 4, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [2],
  numHeadChannels: 8, transformerDepth: 1, contextDim: 32, normGroups: 8,
};
const TINY_VAE: AutoencoderConfig = { ...SD_V1_AUTOENCODER, ch: 16, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], normGroups: 8 };
const TINY_TEXT: TextEncoderConfig = { ...SD_V1_TEXT_ENCODER, width: 32, layers: 2, heads: 2, mlpWidth: 64 };
const unetCfg = tiny ? TINY_UNET : SD_V1_UNET;
const vaeCfg = tiny ? TINY_VAE : SD_V1_AUTOENCODER;
const textCfg = tiny ? TINY_TEXT : SD_V1_TEXT_ENCODER;
const latent = tiny ? 8 : 64;
const factor = 2 ** (vaeCfg.chMult.length - 1);

type Net = 'unet' | 'vae_decoder' | 'text_encoder';
const NETS: Net[] = ['unet', 'vae_decoder', 'text_encoder'];

function build(net: Net, p: Provider): Graph {
  const fused = fusedAttentionFor(p);
  if (net === 'unet') return buildUNetGraph(unetCfg, { batch: 2, height: latent, width: latent, contextLength: textCfg.maxLength, fusedAttention: fused });
  if (net === 'vae_decoder') return buildVaeDecoderGraph(vaeCfg, 1, latent, latent, { fusedAttention: fused });
  return buildTextEncoderGraph(textCfg, 2, 0);
}

function fill(shape: number[], seed = 1): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin((i + seed) * 12.9898) * 0.8;
  return { dtype: 'float32', shape, data };
}

function feeds(net: Net): Record<string, TensorData> {
  if (net === 'unet') {
    return { sample: fill([2, 4, latent, latent]), timestep_embedding: fill([2, unetCfg.modelChannels], 2), encoder_hidden_states: fill([2, textCfg.maxLength, textCfg.width], 3) };
  }
  if (net === 'vae_decoder') return { latent_sample: fill([1, 4, latent, latent]) };
  const ids = new BigInt64Array(2 * textCfg.maxLength);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt((i * 7919) % textCfg.vocabSize);
  return { input_ids: { dtype: 'int64', shape: [2, textCfg.maxLength], data: ids } };
}

interface CaseArgs { net: Net; provider: Provider; precision: GraphPrecision; file: string; out: string }
interface CaseResult { provider: Provider; buildS: number; firstS: number; steadyS: number; chainedS: number | null }

/** One network in one precision on one provider, in this process; its output written to `out`. */
async function runCase(c: CaseArgs): Promise<CaseResult> {
  const t0 = performance.now();
  const ext = safetensorsWeights(await readSafetensorsHeader(c.file), path.basename(c.file));
  const g32 = build(c.net, c.provider);
  const g = c.precision === 'float16' ? toFloat16(g32, float16OptionsFor(c.provider)) : g32;
  const model = toModelProto(g, c.precision === 'float16' ? float16Weights(ext, g) : ext);
  const outName = g.outputs[0]!.name;
  const keep = c.net === 'unet' && deviceOutputsFor(c.provider) ? [outName] : [];
  const session = await createSession(model, { provider: c.provider, weightsFile: c.file, memoryPattern: false, deviceOutputs: keep });
  const buildS = (performance.now() - t0) / 1000;
  if (session.provider !== c.provider) throw new Error(`onnxruntime ran it on ${session.provider}`);
  const f = feeds(c.net);
  const times: number[] = [];
  let out: TensorData | undefined;
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    const res = keep.length ? await session.runOnDevice(f) : await session.run(f);
    times.push((performance.now() - t) / 1000);
    const o = res[outName]!;
    if ('inner' in o) (o as DeviceTensor).dispose();
    else out = o as TensorData;
  }
  let chainedS: number | null = null;
  if (keep.length) {
    // The UNet's output fed back as its sample, never leaving the device, then the host copy once.
    const t = performance.now();
    let x: TensorData | DeviceTensor = f.sample!;
    for (let i = 0; i < 3; i++) {
      const res = await session.runOnDevice({ ...f, sample: x });
      if (x !== f.sample) (x as DeviceTensor).dispose();
      x = res[outName]!;
    }
    chainedS = (performance.now() - t) / 3000;
    if (x !== f.sample && 'inner' in x) x.dispose();
    out = (await session.run(f).catch(() => null))?.[outName] ?? out;
  }
  await session.release();
  if (out) writeFileSync(c.out, new Uint8Array((out.data as Float32Array).buffer, 0, (out.data as Float32Array).byteLength));
  const steadyS = times.slice(1).sort((a, b) => a - b)[1]!;
  return { provider: session.provider, buildS, firstS: times[0]!, steadyS, chainedS };
}

if (args.includes('--case')) {
  console.log(JSON.stringify(await runCase(JSON.parse(flag('--case', '')) as CaseArgs)));
  process.exit(0);
}

/** Device memory in use (MiB) on the first GPU, from nvidia-smi; null where there is none. */
function gpuMemoryMiB(): number | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
    const v = Number(out.trim().split('\n')[0]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Runs one case in a child process, sampling device memory while it runs; the peak above the baseline. */
function child(c: CaseArgs, timeoutMs: number): Promise<{ result?: CaseResult; error?: string; peakMiB: number | null }> {
  const base = gpuMemoryMiB();
  let peak = base;
  const timer = base === null ? null : setInterval(() => {
    const m = gpuMemoryMiB();
    if (m !== null && peak !== null) peak = Math.max(peak, m);
  }, 250);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...(tiny ? ['--tiny'] : []), '--case', JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(kill);
      if (timer) clearInterval(timer);
      const peakMiB = base === null || peak === null ? null : peak - base;
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) resolve({ result: JSON.parse(last) as CaseResult, peakMiB });
      else resolve({ error: signal === 'SIGKILL' ? 'timed out' : (stderr.trim().split('\n').filter((l) => /Error|error/.test(l)).pop() ?? stderr.trim().split('\n').pop() ?? `exit ${code}`).slice(0, 160), peakMiB });
    });
  });
}

const readFloats = (file: string): Float32Array | null => {
  try {
    return new Float32Array(Uint8Array.from(readFileSync(file)).buffer);
  } catch {
    return null;
  }
};

/** The output's non-finite values, and its largest difference from the float32 output (when given). */
function compare(file: string, reference: string | null): { maxDiff: number | null; nonFinite: number } | null {
  const b = readFloats(file);
  if (!b) return null;
  const a = reference ? readFloats(reference) : null;
  let maxDiff = a ? 0 : null;
  let nonFinite = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(b[i]!)) nonFinite++;
    else if (a && maxDiff !== null && Number.isFinite(a[i]!)) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  return { maxDiff, nonFinite };
}

async function main(): Promise<void> {
  const deadline = performance.now() + Number(flag('--deadline', '450')) * 1000;
  const wanted = flag('--provider', '');
  const gpus = availableProviders().filter((p) => p !== 'cpu');
  const providers: Provider[] = args.includes('--cpu') ? ['cpu'] : wanted ? [wanted as Provider] : gpus;
  if (providers.length === 0) {
    console.log(`no GPU provider is installed here (onnxruntime-node lists: ${availableProviders().join(', ')}); use --cpu to check the script on the CPU`);
    process.exit(2);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-device-check-'));
  const size = `${latent * factor}²`;
  console.log(`providers: ${providers.join(', ')}; UNet batch 2 at ${latent}² latent (one CFG step at ${size}), VAE decoder to ${size}, text encoder batch 2; random fp16 weights${tiny ? '; TINY networks (dry run)' : ''}`);
  const header = 'provider  network       precision   build s    1st s   steady s/call   on-device s/call   peak device MiB   max |Δ| vs fp32   non-finite';
  const rows: string[] = [];
  const print = () => console.log(`\n${header}\n${rows.join('\n')}`);
  process.on('SIGINT', () => {
    rows.push('(stopped by the time limit)');
    print();
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
  try {
    const files = new Map<Net, string>();
    for (const net of NETS) files.set(net, await writeRandomWeights(build(net, 'cpu'), path.join(dir, `${net}.safetensors`), 7));
    for (const provider of providers) {
      let started = true;
      for (const net of NETS) {
        for (const precision of ['float32', 'float16'] as const) {
          const label = `${provider.padEnd(9)} ${net.padEnd(13)} ${precision.padEnd(9)}`;
          const left = deadline - performance.now();
          if (!started || left < 20_000) {
            rows.push(`${label}   skipped: ${started ? 'time limit' : `${provider} did not start`}`);
            continue;
          }
          const out = path.join(dir, `${provider}-${net}-${precision}.f32`);
          const r = await child({ net, provider, precision, file: files.get(net)!, out }, left);
          if (!r.result) {
            rows.push(`${label}   failed: ${r.error}`);
            if (net === 'unet' && precision === 'float32' && /failed to start|not available/.test(r.error ?? '')) started = false;
          } else {
            const x = r.result;
            const cmp = compare(out, precision === 'float16' ? path.join(dir, `${provider}-${net}-float32.f32`) : null);
            rows.push([
              label, x.buildS.toFixed(1).padStart(9), x.firstS.toFixed(3).padStart(8), x.steadyS.toFixed(4).padStart(15),
              (x.chainedS === null ? '—' : x.chainedS.toFixed(4)).padStart(18), (r.peakMiB === null ? 'n/a' : r.peakMiB.toFixed(0)).padStart(17),
              (cmp?.maxDiff != null ? cmp.maxDiff.toPrecision(3) : '—').padStart(17), (cmp ? String(cmp.nonFinite) : '—').padStart(12),
            ].join(' '));
          }
          console.log(rows.at(-1));
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  print();
}

await main();
