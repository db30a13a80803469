// Peak memory and time of SD v1-size networks (random weights) under the session settings the studio
// chooses between: MatMul+Softmax attention with onnxruntime's memory pattern (the first wave), without
// it, and the fused MultiHeadAttention without it (what sampling uses now). Each case runs in its own
// process, so its peak resident memory (VmHWM) is its own.
// Usage: npm run bench -- --only memory [--threads 2] [--quick]   (quick: 32² UNet latent, 256² VAE)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, timedRuns, writeRandomWeights } from './lib.ts';
import { SD_V1_AUTOENCODER, SD_V1_UNET } from '../electron/engine/nn/config.ts';
import { buildUNetGraph, buildVaeDecoderGraph } from '../electron/engine/nn/models.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import { createSession } from '../electron/engine/onnx/runtime.ts';
import { readSafetensorsHeader } from '../electron/engine/io/safetensors.ts';
import { safetensorsWeights, toModelProto } from '../electron/engine/onnx/serialize.ts';
import type { TensorData } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const threads = Number(flag('--threads')) || 2;
const quick = args.includes('--quick');
const latent = quick ? 32 : 64;

type Net = 'unet' | 'vae_decoder';
interface Case { net: Net; fused: boolean; memoryPattern: boolean }

function build(net: Net, fused: boolean): Graph {
  return net === 'unet'
    ? buildUNetGraph(SD_V1_UNET, { batch: 2, height: latent, width: latent, contextLength: 77, fusedAttention: fused })
    : buildVaeDecoderGraph(SD_V1_AUTOENCODER, 1, latent, latent, { fusedAttention: fused });
}

function feeds(net: Net): Record<string, TensorData> {
  const fill = (shape: number[]): TensorData => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.8;
    return { dtype: 'float32', shape, data };
  };
  return net === 'unet'
    ? { sample: fill([2, 4, latent, latent]), timestep_embedding: fill([2, 320]), encoder_hidden_states: fill([2, 77, 768]) }
    : { latent_sample: fill([1, 4, latent, latent]) };
}

/** Child: one case, two runs (the memory pattern only shows from the second), then its figures as JSON. */
async function runCase(c: Case, weightsFile: string): Promise<void> {
  const header = await readSafetensorsHeader(weightsFile);
  const t0 = performance.now();
  const session = await createSession(toModelProto(build(c.net, c.fused), safetensorsWeights(header, path.basename(weightsFile))), {
    provider: 'cpu', threads, weightsFile, memoryPattern: c.memoryPattern,
  });
  const buildS = (performance.now() - t0) / 1000;
  const f = feeds(c.net);
  const { times, checksum } = await timedRuns(session, f, 2);
  await session.release();
  console.log(JSON.stringify({ buildS, times, peakMiB: peakRssMiB(), checksum }));
}

/** Random weights for a network, written once and shared by its cases. */
async function writeWeights(net: Net, dir: string): Promise<string> {
  return writeRandomWeights(build(net, false), path.join(dir, `${net}.safetensors`), 1, 'float32');
}

async function main(): Promise<void> {
  const caseArg = flag('--case');
  if (caseArg) return runCase(JSON.parse(caseArg) as Case, flag('--weights')!);
  const here = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-memory-bench-'));
  try {
    console.log(`SD v1 networks, random fp32 weights, ${threads} threads; UNet batch 2 at ${latent}² latent (one CFG step at ${latent * 8}²), VAE decoder to ${latent * 8}²`);
    console.log('network       attention  mem pattern   build s   1st run s   2nd run s   peak RSS MiB   checksum');
    for (const net of ['unet', 'vae_decoder'] as const) {
      const weights = await writeWeights(net, dir);
      const cases: Case[] = [
        { net, fused: false, memoryPattern: true },
        { net, fused: false, memoryPattern: false },
        { net, fused: true, memoryPattern: false },
      ];
      for (const c of cases) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--case', JSON.stringify(c), '--weights', weights, '--threads', String(threads)], { encoding: 'utf8' });
        const line = r.stdout.trim().split('\n').at(-1) ?? '';
        if (r.status !== 0 || !line.startsWith('{')) {
          console.log(`${net.padEnd(13)} ${c.fused ? 'fused' : 'plain'}      failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`);
          continue;
        }
        const m = JSON.parse(line) as { buildS: number; times: number[]; peakMiB: number; checksum: number };
        console.log(`${net.padEnd(13)} ${(c.fused ? 'fused' : 'plain').padEnd(10)} ${(c.memoryPattern ? 'on' : 'off').padEnd(13)} ${m.buildS.toFixed(1).padStart(7)} ${m.times[0]!.toFixed(2).padStart(11)} ${m.times[1]!.toFixed(2).padStart(11)} ${m.peakMiB.toFixed(0).padStart(14)}   ${m.checksum.toPrecision(7)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
