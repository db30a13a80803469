// LoRA fine-tuning on Stable Diffusion files (tiny SD 1.x and SD 2.x v-prediction files written by
// tiny-sd.ts): the run opens them through the model families, trains toward ε or v, writes a kohya LoRA
// whose names are kohya's and which loads back through generation's LoRA path; textual inversion and
// full fine-tuning are refused on such files with a message naming what to use.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';
import { makeSchedule } from '../../../electron/engine/diffusion/schedule.ts';
import { openModel, sha256Files } from '../../../electron/engine/families/index.ts';
import { ownWeights, withAdapters } from '../../../electron/engine/finetune/adapters.ts';
import { batchFeeds } from '../../../electron/engine/finetune/batch.ts';
import { buildFinetuneGraph } from '../../../electron/engine/finetune/graph.ts';
import { finetuneMethod } from '../../../electron/engine/finetune/methods/index.ts';
import { finetune, type FinetuneOptions } from '../../../electron/engine/finetune/train.ts';
import { loadSafetensors } from '../../../electron/engine/io/safetensors.ts';
import type { ModelSpec } from '../../../electron/engine/pipelines/loaded-model.ts';
import { Trainer } from '../../../electron/engine/training/index.ts';
import { SD1_TEXT, SD1_UNET, sdWeights, writeSd1File, writeSd2File } from '../families/tiny-sd.ts';
import { patternFolder } from './fixtures.ts';

let root: string;
let data: string;
const f = (name: string) => path.join(root, name);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'sd-finetune-'));
  data = f('data');
  await patternFolder(data, 3);
  await writeSd1File(f('sd1.safetensors'));
  await writeSd2File(f('sd2-v.safetensors'), { metadata: { 'modelspec.prediction_type': 'v' } });
}, 30_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const run = (base: string, out: string, more: Partial<FinetuneOptions> = {}) =>
  finetune({ base: f(base), data, out: f(out), method: 'lora', steps: 2, resolution: 16, rank: 2, seed: 3, threads: 1, ...more });

/** Trains, then checks the file: finite losses, kohya names, the base's hash and name, and that generation merges it. */
async function trainAndLoad(base: string, out: string, more: Partial<FinetuneOptions> = {}): Promise<void> {
  const r = await run(base, out, more);
  expect(r.steps).toBe(2);
  expect(r.images).toBe(3);
  const losses = r.losses.map((l) => l.loss);
  expect(losses).toHaveLength(2);
  for (const l of losses) expect(Number.isFinite(l) && l > 0).toBe(true);
  const file = await loadSafetensors(r.out);
  const names = [...file.tensors.keys()];
  expect(names.length).toBeGreaterThan(0);
  for (const n of names) expect(n).toMatch(/^lora_unet_(down_blocks|mid_block|up_blocks)_\w+\.(lora_down\.weight|lora_up\.weight|alpha)$/);
  expect(names).toContain('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight');
  const sha = await sha256Files([f(base)]);
  expect(file.metadata.ss_new_sd_model_hash).toBe(sha);
  expect(file.metadata.ss_sd_model_hash).toBe(sha.slice(0, 10));
  expect(file.metadata.ss_network_module).toBe('networks.lora');
  // generation's LoRA path: the trained update merges into the file's weights
  const { model } = await openModel(f(base));
  const adapted = await withAdapters(model, [{ file: r.out, strength: 1 }]);
  const [before, after] = [await ownWeights(model.spec), await ownWeights(adapted.spec)];
  const k = 'model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight';
  expect(maxDiff(before.get(k)!, after.get(k)!)).toBeGreaterThan(0);
  await Promise.all([model.release(), adapted.release()]);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('LoRA fine-tuning on Stable Diffusion files', () => {
  it('SD 1.x (ε): a kohya LoRA that generation loads', async () => {
    await trainAndLoad('sd1.safetensors', 'sd1-lora.safetensors');
  }, 30_000);

  it('SD 2.x v-prediction: a kohya LoRA that generation loads (the v target is checked below)', async () => {
    await trainAndLoad('sd2-v.safetensors', 'sd2-lora.safetensors');
  }, 30_000);

  it('textual inversion and full fine-tuning are refused on SD files, naming lora', async () => {
    await expect(run('sd1.safetensors', 'ti.safetensors', { method: 'ti', triggerWord: 'zork' })).rejects.toThrow(
      /textual inversion on Stable Diffusion files .* not supported yet .*use lora/,
    );
    await expect(run('sd1.safetensors', 'full', { method: 'full' })).rejects.toThrow(/full fine-tuning of Stable Diffusion files .* use lora/);
  }, 30_000);
});

describe('min-SNR-γ weights', () => {
  it('ε: min(SNR, γ)/SNR; v: min(SNR, γ)/(SNR + 1), as kohya', () => {
    const schedule = makeSchedule({});
    const spec = { unet: { modelChannels: 32 }, textEncoder: { width: 4 } } as unknown as ModelSpec;
    const common = { batch: 4, c: 1, h: 1, per: 1, L: 1, ctxPer: 4, spec, latents: [new Float32Array(1)], contexts: [new Float32Array(4)], ids: null, tiWord: null, schedule, noiseOffset: 0, minSnrGamma: 5 };
    for (const prediction of ['epsilon', 'v_prediction'] as const) {
      const rng = new Rng(7n);
      const feeds = batchFeeds({ ...common, prediction })([0, 0, 0, 0], rng);
      const sa = feeds.sqrt_alpha_bar!.data as Float32Array;
      const w = feeds.loss_weights!.data as Float32Array;
      for (let b = 0; b < 4; b++) {
        const ab = sa[b]! ** 2;
        const snr = ab / (1 - ab);
        expect(w[b]).toBeCloseTo(Math.min(snr, 5) / (prediction === 'v_prediction' ? snr + 1 : snr), 4);
      }
    }
  });
});

describe('the training target', () => {
  it('v-prediction: with the UNet output held at 0 the loss is mean ‖√ᾱ·ε − √(1−ᾱ)·x₀‖²; ε-prediction: mean ‖ε‖²', async () => {
    const base = sdWeights(SD1_UNET, SD1_TEXT, 1);
    // a zero output convolution: the UNet predicts 0 whatever its input, so the loss is the target's mean square
    for (const k of ['model.diffusion_model.out.2.weight', 'model.diffusion_model.out.2.bias']) base.set(k, new Float32Array(base.get(k)!.length));
    const method = finetuneMethod('lora');
    const setup = method.setup({ out: 'x.safetensors', rank: 2 }, null);
    const B = 2;
    const h = 4;
    const per = 4 * h * h;
    const latents = [Float32Array.from({ length: per }, (_, i) => Math.sin(i)), Float32Array.from({ length: per }, (_, i) => Math.cos(3 * i))];
    const spec = { unet: SD1_UNET, textEncoder: SD1_TEXT } as unknown as ModelSpec;
    const ctxPer = SD1_TEXT.maxLength * SD1_TEXT.width;
    const contexts = [new Float32Array(ctxPer).fill(0.1), new Float32Array(ctxPer).fill(-0.2)];
    for (const prediction of ['epsilon', 'v_prediction'] as const) {
      const fg = buildFinetuneGraph({ method, setup, prediction, unet: SD1_UNET, textEncoder: SD1_TEXT, batch: B, height: h, width: h, latentChannels: 4, base });
      const trainer = await Trainer.create({ graph: fg.graph, lr: 1e-3, seed: 1, params: new Map(), session: { threads: 1 } });
      const feeds = batchFeeds({
        batch: B, c: 4, h, per, L: SD1_TEXT.maxLength, ctxPer, spec, latents, contexts, ids: null, tiWord: null,
        schedule: makeSchedule({}), prediction, noiseOffset: 0, minSnrGamma: 0,
      })([0, 1], new Rng(11n), true);
      const loss = await trainer.evaluate(feeds);
      await trainer.close();
      const z = feeds.latents!.data as Float32Array;
      const eps = feeds.noise!.data as Float32Array;
      const sa = feeds.sqrt_alpha_bar!.data as Float32Array;
      const sb = feeds.sqrt_one_minus_alpha_bar!.data as Float32Array;
      let sum = 0;
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < per; i++) {
          const y = prediction === 'v_prediction' ? sa[b]! * eps[b * per + i]! - sb[b]! * z[b * per + i]! : eps[b * per + i]!;
          sum += y * y;
        }
      }
      expect(loss).toBeCloseTo(sum / (B * per), 4);
    }
  }, 30_000);
});
