// Upscale ×4 at the paper's bsr_sr size (issue 18): a file in bsr_sr's exact layout and configs
// (VQ-f4 first stage with an 8192-entry codebook; UNet 160 channels, ×[1, 2, 2, 4], 2 res blocks,
// attention at 1/8 with 32-channel heads, 6 input channels) with random fp16 weights, opened as the
// studio's worker opens it (pipelines/release.ts) and run on a picture: open time, the first step (its
// sessions built), seconds per step, decode, peak resident memory. Random weights: the picture means
// nothing, the cost is the real one. Run under the shared lock: flock /tmp/sd-size.lock npx tsx bench/upscale.bench.ts
// Usage: npx tsx bench/upscale.bench.ts [--size 64] [--steps 3] [--threads 2]
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { peakRssMiB, writeRandomWeights } from './lib.ts';
import type { AutoencoderConfig, UNetConfig } from '../electron/engine/nn/config.ts';
import { modelParams } from '../electron/engine/nn/models.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import { rgbImage } from '../electron/engine/pipelines/image.ts';
import { openRelease, upscale } from '../electron/engine/pipelines/release.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const size = Number(flag('--size')) || 64;
const steps = Number(flag('--steps')) || 3;
if (flag('--threads')) process.env.LDM_THREADS = flag('--threads');

/** models/first_stage_models/vq-f4/config.yaml */
const VQ_F4: AutoencoderConfig = {
  kind: 'vq', ch: 128, chMult: [1, 2, 4], numResBlocks: 2, attnResolutions: [], resolution: 256,
  inChannels: 3, outCh: 3, zChannels: 3, embedDim: 3, nEmbed: 8192, beta: 0.25,
};
/** models/ldm/bsr_sr/config.yaml (attention_resolutions [16, 8] of image_size 64: downsampling rate 8 has attention) */
const BSR_UNET: UNetConfig = {
  inChannels: 6, outChannels: 3, modelChannels: 160, channelMult: [1, 2, 2, 4], numResBlocks: 2,
  attentionResolutions: [8], numHeadChannels: 32, transformerDepth: 1, contextDim: null, legacyAttention: true,
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-upscale-bench-'));
try {
  const file = path.join(dir, 'bsr_sr.safetensors');
  let t = performance.now();
  const params = modelParams({ autoencoder: VQ_F4, unet: BSR_UNET });
  await writeRandomWeights({ params } as unknown as Graph, file, 1);
  let values = 0;
  for (const p of params.values()) values += p.shape.reduce((a, b) => a * b, 1);
  console.log(`bsr_sr layout, random fp16 weights: ${(values / 1e6).toFixed(1)} M values, written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const model = await openRelease(file, 'bsr_sr', 'bench');
  console.log(`open: ${((performance.now() - t) / 1000).toFixed(1)} s (${model.release.label}), peak RSS ${peakRssMiB().toFixed(0)} MiB`);
  const low = rgbImage(size, size, Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37) % 256));
  const stamps: number[] = [];
  t = performance.now();
  const [out] = await upscale(model, { image: low, seed: 1, steps, onProgress: () => stamps.push(performance.now()) });
  const end = performance.now();
  const first = (stamps[0]! - t) / 1000;
  const per = stamps.length > 1 ? (stamps.at(-1)! - stamps[0]!) / 1000 / (stamps.length - 1) : NaN;
  const decode = (end - stamps.at(-1)!) / 1000;
  console.log(`upscale ${size}×${size} → ${out!.image.width}×${out!.image.height}, ${stamps.length} DDIM steps: first step ${first.toFixed(1)} s (sessions built), then ${per.toFixed(2)} s/step, decode ${decode.toFixed(1)} s`);
  console.log(`peak RSS ${peakRssMiB().toFixed(0)} MiB`);
  await model.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
