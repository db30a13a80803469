// SD-size check on whichever accelerator onnxruntime loads here (issue 13): an SD v1 UNet (batch 2 at
// 64² latent, one CFG step at 512²) and the SD VAE decoder (512²), random fp16 weights, fp32 and int8
// linear weights, on every GPU provider that starts (CPU with --cpu or when none does). One table:
// session build, first call, steady call (median of 3), peak RSS and an output checksum to compare
// providers. Run through scripts/device-check.sh.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensorsHeader } from '../electron/engine/io/safetensors.ts';
import { SD_V1_AUTOENCODER, SD_V1_UNET } from '../electron/engine/nn/config.ts';
import { buildUNetGraph, buildVaeDecoderGraph } from '../electron/engine/nn/models.ts';
import { quantizedWeights, weightQuantFor, type WeightPrecision } from '../electron/engine/nn/quantize.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import { availableProviders, createSession, fusedAttentionFor, type Provider } from '../electron/engine/onnx/runtime.ts';
import { safetensorsWeights, toModelProto } from '../electron/engine/onnx/serialize.ts';
import type { TensorData } from '../electron/engine/tensor.ts';
import { peakRssMiB, timedRuns, writeRandomWeights } from '../bench/lib.ts';

const args = process.argv.slice(2);
const latent = args.includes('--quick') ? 32 : 64;
const providers: Provider[] = args.includes('--cpu') ? ['cpu'] : availableProviders().filter((p) => p !== 'cpu');
if (providers.length === 0) providers.push('cpu');

type Net = 'unet' | 'vae_decoder';
const build = (net: Net, p: Provider, w: WeightPrecision): Graph => net === 'unet'
  ? buildUNetGraph(SD_V1_UNET, { batch: 2, height: latent, width: latent, contextLength: 77, fusedAttention: fusedAttentionFor(p), weightQuant: weightQuantFor(w) })
  : buildVaeDecoderGraph(SD_V1_AUTOENCODER, 1, latent, latent, { fusedAttention: fusedAttentionFor(p) });

function fill(shape: number[]): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.8;
  return { dtype: 'float32', shape, data };
}

const feeds = (net: Net): Record<string, TensorData> => net === 'unet'
  ? { sample: fill([2, 4, latent, latent]), timestep_embedding: fill([2, 320]), encoder_hidden_states: fill([2, 77, 768]) }
  : { latent_sample: fill([1, 4, latent, latent]) };

async function writeWeights(net: Net, dir: string): Promise<string> {
  return writeRandomWeights(build(net, 'cpu', 'fp32'), path.join(dir, `${net}.safetensors`), 7);
}


async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-device-check-'));
  console.log(`providers to try: ${providers.join(', ')}; UNet batch 2 at ${latent}² latent, VAE decoder to ${latent * 8}²; random fp16 weights`);
  const rows: string[] = ['provider  network       weights   build s   1st s   steady s   peak RSS MiB   checksum'];
  try {
    for (const net of ['unet', 'vae_decoder'] as const) {
      const file = await writeWeights(net, dir);
      const ext = safetensorsWeights(await readSafetensorsHeader(file), path.basename(file));
      for (const p of providers) {
        for (const w of net === 'unet' ? (['fp32', 'int8'] as const) : (['fp32'] as const)) {
          const row = `${p.padEnd(9)} ${net.padEnd(13)} ${w.padEnd(9)}`;
          try {
            const t0 = performance.now();
            const g = build(net, p, w);
            const session = await createSession(toModelProto(g, quantizedWeights(g, ext, file)), { provider: p, weightsFile: file, memoryPattern: false });
            const buildS = (performance.now() - t0) / 1000;
            if (session.provider !== p) throw new Error(`onnxruntime ran it on ${session.provider}`);
            const f = feeds(net);
            const { times, checksum } = await timedRuns(session, f, 4);
            await session.release();
            const steady = times.slice(1).sort((a, b) => a - b)[1]!;
            rows.push(`${row} ${buildS.toFixed(1).padStart(7)} ${times[0]!.toFixed(2).padStart(7)} ${steady.toFixed(3).padStart(10)} ${peakRssMiB().toFixed(0).padStart(14)}   ${checksum.toPrecision(7)}`);
          } catch (err) {
            rows.push(`${row} failed: ${(err as Error).message.split('\n')[0]}`);
          }
          console.log(rows.at(-1));
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${rows.join('\n')}`);
}

await main();
