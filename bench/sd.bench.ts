// Stable Diffusion at full size (not a test; prints figures): writes an SD 1.x (and with --sd2 an SD 2.x
// 768-v) single file of random fp16 weights in the exact CompVis / OpenCLIP layout, then measures what a
// user waits for: hashing, opening (family + config inference), building the sessions, seconds per
// denoising step with CFG, a session rebuild for a new size, and the process's peak resident memory.
//
//   npx tsx bench/sd.bench.ts [--sd2] [--size 512] [--steps 2] [--threads 2] [--keep DIR]
//
// Memory: peak RSS of this process (maxRSS), which includes the file writer's buffers (small) and
// Node itself (~60 MB).
import { createWriteStream, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openModel, sha256Files } from '../electron/engine/families/index.ts';
import { SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type TextEncoderConfig, type UNetConfig } from '../electron/engine/nn/config.ts';
import { modelParams } from '../electron/engine/nn/models.ts';
import { txt2img } from '../electron/engine/pipelines/txt2img.ts';
import { floatToHalf } from '../electron/engine/tensor.ts';

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

/** Random fp16 weights, streamed: a repeated 1 MiB block of N(0, 0.02)-ish values (norm scales 1). */
async function writeFile(file: string): Promise<number> {
  const entries = layout();
  const header: Record<string, unknown> = { __metadata__: sd2 ? { 'modelspec.prediction_type': 'v' } : {} };
  let offset = 0;
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    header[e.name] = { dtype: 'F16', shape: e.shape, data_offsets: [offset, offset + 2 * n] };
    offset += 2 * n;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const block = new Uint16Array(1 << 19);
  let s = 1;
  for (let i = 0; i < block.length; i++) block[i] = floatToHalf(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.07);
  const one = floatToHalf(1);
  const out = createWriteStream(file);
  let failed: Error | null = null;
  out.on('error', (err) => (failed = err));
  const write = (b: Uint8Array) =>
    new Promise<void>((res, rej) => (failed ? rej(failed) : out.write(b) ? res() : out.once('drain', () => (failed ? rej(failed) : res()))));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  await write(head);
  await write(Buffer.from(json));
  for (const e of entries) {
    let n = e.shape.reduce((a, b) => a * b, 1);
    const norm = e.shape.length === 1 && e.name.endsWith('.weight');
    while (n > 0) {
      const k = Math.min(n, block.length);
      await write(norm ? new Uint8Array(new Uint16Array(k).fill(one).buffer) : new Uint8Array(block.buffer, 0, 2 * k));
      n -= k;
    }
  }
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
  return offset + 8 + json.length;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
const rss = () => process.resourceUsage().maxRSS * 1024;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const dir = args.includes('--keep') ? flag('--keep', '') : await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sd-bench-'));
await fsp.mkdir(dir, { recursive: true });
const file = path.join(dir, sd2 ? 'sd2-768-v-random.safetensors' : 'sd1-random.safetensors');
try {
  let t = performance.now();
  const bytes = (await fsp.stat(file).catch(() => null))?.size ?? (await writeFile(file));
  console.log(`${sd2 ? 'SD 2.x 768-v' : 'SD 1.x'} random fp16 file: ${mb(bytes)} (${sec(performance.now() - t)} to write or find)`);
  t = performance.now();
  const hash = (await sha256Files([file])).slice(0, 10);
  console.log(`A1111 hash ${hash}: ${sec(performance.now() - t)} (once per file; the registry caches it)`);
  t = performance.now();
  const { model, opened } = await openModel(file, { hash, provider: 'cpu', threads });
  console.log(`open (header, family ${opened.family}, configs from shapes): ${sec(performance.now() - t)}; predicts ${opened.prediction}`);
  t = performance.now();
  await model.warmUp(size, size, true, (net, i, n, ms) => console.log(`  session ${i}/${n} ${net}: ${sec(ms)}, peak RSS ${mb(rss())}`));
  console.log(`load (all sessions for ${size}² with CFG): ${sec(performance.now() - t)}, peak RSS ${mb(rss())}`);
  const times: number[] = [];
  let last = performance.now();
  await txt2img(model, {
    prompt: 'a photograph of an astronaut riding a horse',
    seed: 1,
    steps,
    sampler: 'euler',
    width: size,
    height: size,
    previewEvery: 0,
    onProgress: () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
    },
  });
  console.log(`s/step at ${size}² (batch 2, CFG): ${times.map((x) => (x / 1000).toFixed(2)).join(', ')} (first includes text encoding)`);
  console.log(`peak RSS after sampling: ${mb(rss())}`);
  t = performance.now();
  await model.warmUp(size - 64, size - 64, true);
  console.log(`new size ${size - 64}² → UNet and VAE sessions rebuilt: ${sec(performance.now() - t)}`);
  await model.release();
  console.log(`peak RSS at the end: ${mb(rss())}`);
} finally {
  if (!args.includes('--keep')) await fsp.rm(dir, { recursive: true, force: true });
}
