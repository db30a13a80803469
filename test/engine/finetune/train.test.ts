// Fine-tuning end to end on the tiny random base model and a folder of striped PNGs. The tiny model's
// autoencoder is random, so its pictures say little; "toward the pattern" is measured where the
// diffusion model works: per-channel mean and spread of the latents it generates, against those of
// the training pictures' latents.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdapters } from '../../../electron/engine/finetune/adapters.ts';
import { finetune, vocabularyWarnings, type FinetuneOptions } from '../../../electron/engine/finetune/train.ts';
import { loadDataset } from '../../../electron/engine/io/dataset.ts';
import { loadSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { loadModel, type LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import type { DiffusionModel } from '../../../electron/engine/pipelines/model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { patternFolder, stripes, tinyBase, writePng } from './fixtures.ts';

let root: string;
let base: string;
let data: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'finetune-'));
  base = await tinyBase(path.join(root, 'base'));
  data = path.join(root, 'data');
  await patternFolder(data, 8);
}, 60_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** Per-channel mean and std over a set of latents [C, h, w]. */
function stats(zs: readonly Float32Array[], channels = 4): number[] {
  const n = zs[0]!.length / channels;
  const m = new Array<number>(channels).fill(0);
  const q = new Array<number>(channels).fill(0);
  for (const z of zs) {
    for (let c = 0; c < channels; c++) {
      for (let k = 0; k < n; k++) {
        m[c] += z[c * n + k]! / (n * zs.length);
        q[c] += z[c * n + k]! ** 2 / (n * zs.length);
      }
    }
  }
  return [...m, ...q.map((v, c) => Math.sqrt(Math.max(0, v - m[c]! ** 2)))];
}

/** The latents a model generates for `prompt` at seeds 100…103 (captured before decoding). */
async function generatedLatents(model: DiffusionModel, prompt: string): Promise<Float32Array[]> {
  const zs: Float32Array[] = [];
  const spy: DiffusionModel = Object.create(model, {
    decodeLatents: { value: (z: { data: Float32Array }) => (zs.push(z.data.slice()), model.decodeLatents(z as never)) },
  });
  for (let s = 0; s < 4; s++) await txt2img(spy, { prompt, seed: 100 + s });
  return zs;
}

async function trainingLatents(model: LoadedModel): Promise<Float32Array[]> {
  const ds = await loadDataset(data, { width: 32, height: 32 });
  const out: Float32Array[] = [];
  for (const it of ds.items) out.push((await model.encodeImage(tensor('float32', [1, 3, 32, 32], it.pixels))).data);
  return out;
}

const distance = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));

describe('vocabularyWarnings', () => {
  it('names an unknown trigger word and the caption words a word tokenizer would drop', () => {
    const vocab = ['<pad>', 'red', 'square'];
    expect(vocabularyWarnings(vocab, ['red square', 'red'], 'red')).toEqual([]);
    const w = vocabularyWarnings(vocab, ['zqx, red circle', 'blue circle'], 'zqx');
    expect(w[0]).toMatch(/'zqx' is not in the model's vocabulary/);
    expect(w[1]).toBe("2 caption words are not in the model's vocabulary and are ignored: circle, blue");
    expect(vocabularyWarnings(undefined, ['anything'], 'x')).toEqual([]);
  });
});

describe('finetune', () => {
  it('LoRA lowers the held-out loss, moves generations toward the pattern and writes a kohya file', async () => {
    const out = path.join(root, 'stripes.safetensors');
    const phases: string[] = [];
    const r = await finetune({
      base, data, out, method: 'lora', steps: 50, learningRate: 3e-2, rank: 4, alpha: 4, triggerWord: 'zqx', holdOut: 2,
      sampleEvery: 25, threads: 2, onProgress: (e) => phases.push(e.phase),
    });
    expect(r.images).toBe(6);
    expect(r.warnings).toEqual([expect.stringMatching(/trigger word 'zqx' is not in the model's vocabulary/)]);
    expect(r.losses).toHaveLength(50);
    expect(r.heldOutLoss!.after).toBeLessThan(0.75 * r.heldOutLoss!.before);
    expect(r.samples).toHaveLength(2); // step 25 and the end, same seed
    expect(phases.filter((p) => p === 'train')).toHaveLength(50);
    expect(phases.at(-1)).toBe('done');

    const { tensors, metadata } = await loadSafetensors(out);
    const keys = [...tensors.keys()];
    expect(keys.every((k) => /^lora_unet_[a-z0-9_]+\.(lora_down\.weight|lora_up\.weight|alpha)$/.test(k))).toBe(true);
    expect(keys).toContain('lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight');
    expect(keys).toContain('lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight');
    expect(tensors.get('lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight')!.shape).toEqual([4, 16, 3, 3]);
    expect([...tensors.get('lora_unet_mid_block_attentions_0_proj_in.alpha')!.data]).toEqual([4]);
    expect(metadata).toMatchObject({ ss_network_dim: '4', ss_network_alpha: '4', ss_max_train_steps: '50', ss_num_train_images: '6', 'ldm_studio.method': 'lora' });
    expect(metadata.ss_sd_model_hash).toMatch(/^[0-9a-f]{10}$/);
    expect(JSON.parse(metadata['ldm_studio.dataset']!)).toMatchObject({ images: 6, rejected: 0, trigger: 'zqx' });

    const baseModel = await loadModel(base, { threads: 2 });
    const target = stats(await trainingLatents(baseModel));
    const before = distance(stats(await generatedLatents(baseModel, 'red square')), target);
    const tuned = await withAdapters(baseModel, [{ file: out, strength: 1 }], { threads: 2 });
    const after = distance(stats(await generatedLatents(tuned, 'red square')), target);
    // measured 0.65 × (spread and channel means both move toward the training latents)
    expect(after).toBeLessThan(0.8 * before);
    // strength 0 is the base model, exactly
    const off = await withAdapters(baseModel, [{ file: out, strength: 0 }], { threads: 2 });
    const [a] = await txt2img(baseModel, { prompt: 'red square', seed: 7 });
    const [b] = await txt2img(off, { prompt: 'red square', seed: 7 });
    expect(Buffer.from(b!.image.data).equals(Buffer.from(a!.image.data))).toBe(true);
    await Promise.all([baseModel.release(), tuned.release(), off.release()]);
  }, 120_000);

  it('trains on the good pictures of a folder with broken files, reports the broken ones, checkpoints when paused', async () => {
    const mixed = path.join(root, 'mixed');
    for (let i = 0; i < 3; i++) await writePng(path.join(mixed, `ok${i}.png`), stripes(32, 4, i), 32);
    await fsp.writeFile(path.join(mixed, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage'));
    const good = await fsp.readFile(path.join(mixed, 'ok0.png'));
    await fsp.writeFile(path.join(mixed, 'cut.png'), good.subarray(0, 60));
    await fsp.writeFile(path.join(mixed, 'renamed.webp'), Buffer.from('RIFF....WEBPVP8 nothing'));
    const out = path.join(root, 'mixed.safetensors');
    let checkpointWhilePaused = '';
    let boundaries = 0;
    const pause = async () => {
      if (++boundaries !== 3) return; // resolves at once: not paused
      // paused: the run checkpoints while it waits
      const file = `${out}.work/checkpoint.safetensors`;
      for (let i = 0; i < 500 && !(await fsp.access(file).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 10));
      checkpointWhilePaused = (await loadSafetensors(file)).metadata.step!;
    };
    const r = await finetune({ base, data: mixed, out, method: 'lora', steps: 3, batchSize: 2, threads: 2, pause });
    expect(checkpointWhilePaused).toBe('2');
    expect(r.images).toBe(3);
    expect(r.steps).toBe(3);
    expect(r.rejected.map((x) => path.basename(x.path)).sort()).toEqual(['broken.png', 'cut.png', 'renamed.webp']);
    for (const x of r.rejected) expect(x.reason.length).toBeGreaterThan(10);
  }, 60_000);

  it('cancels with a checkpoint and resumes to exactly the uninterrupted result', async () => {
    const common: Omit<FinetuneOptions, 'out' | 'workDir'> = { base, data, method: 'lora', targets: ['attn'], steps: 8, batchSize: 2, rank: 2, saveEvery: 2, threads: 2, seed: 3 };
    const whole = await finetune({ ...common, out: path.join(root, 'whole.safetensors') });
    expect(whole.resumedFrom).toBeNull();

    const out = path.join(root, 'resumed.safetensors');
    const ac = new AbortController();
    await expect(
      finetune({ ...common, out, signal: ac.signal, onProgress: (e) => e.phase === 'train' && e.step === 5 && ac.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError', message: expect.stringMatching(/cancelled at step 5/) });
    await expect(fsp.access(out)).rejects.toThrow();
    const resumed = await finetune({ ...common, out });
    expect(resumed.resumedFrom).toBe(5);
    expect(resumed.losses.map((l) => l.step)).toEqual([6, 7, 8]);
    expect(resumed.losses).toEqual(whole.losses.slice(5));
    const a = (await loadSafetensors(path.join(root, 'whole.safetensors'))).tensors;
    const b = (await loadSafetensors(out)).tensors;
    for (const [k, t] of a) expect(b.get(k)!.data).toEqual(t.data);

    // other settings in the same work folder are refused rather than mixed
    await expect(finetune({ ...common, steps: 9, out })).rejects.toThrow(/other settings or data/);
  }, 90_000);

  it('LoRA on the text encoder (with gradient accumulation) writes lora_te_ modules that change the prompt encoding', async () => {
    const out = path.join(root, 'te.safetensors');
    const r = await finetune({ base, data, out, method: 'lora', targets: ['text'], steps: 4, learningRate: 1e-2, batchSize: 2, accumulate: 2, threads: 2 });
    expect(r.steps).toBe(4);
    const { tensors, metadata } = await loadSafetensors(out);
    expect(metadata).toMatchObject({ ss_batch_size_per_device: '2', ss_gradient_accumulation_steps: '2' });
    const keys = [...tensors.keys()];
    expect(keys).toContain('lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight');
    expect(keys).toContain('lora_te_text_model_encoder_layers_0_mlp_fc2.alpha');
    expect(keys.every((k) => k.startsWith('lora_te_'))).toBe(true);
    const baseModel = await loadModel(base, { threads: 2 });
    const tuned = await withAdapters(baseModel, [{ file: out }], { threads: 2 });
    const a = (await baseModel.encodeText(['red square'])).data;
    const b = (await tuned.encodeText(['red square'])).data;
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-4);
    await Promise.all([baseModel.release(), tuned.release()]);
  }, 60_000);

  it('textual inversion teaches a new word usable in generation', async () => {
    const out = path.join(root, 'zqx.safetensors');
    const r = await finetune({ base, data, out, method: 'ti', triggerWord: 'Zqx', steps: 30, learningRate: 5e-2, holdOut: 2, threads: 2 });
    expect(r.heldOutLoss!.after).toBeLessThan(r.heldOutLoss!.before);
    const { tensors, metadata } = await loadSafetensors(out);
    expect(tensors.get('emb_params')!.shape).toEqual([1, 16]);
    expect(metadata['ldm_studio.token']).toBe('zqx');
    const baseModel = await loadModel(base, { threads: 2 });
    const tuned = await withAdapters(baseModel, [{ file: out }], { threads: 2 });
    expect(Array.from(tuned.spec.tokenize('zqx red'))).not.toEqual(Array.from(baseModel.spec.tokenize('zqx red')));
    expect(tuned.spec.textEncoder.vocabSize).toBe(baseModel.spec.textEncoder.vocabSize + 1);
    await expect(withAdapters(baseModel, [{ file: path.join(base, 'model.safetensors') }])).rejects.toThrow(/neither a LoRA .* nor an embedding/);
    const [img] = await txt2img(tuned, { prompt: 'zqx', seed: 1 });
    expect(img!.image.width).toBe(32);
    await expect(finetune({ base, data, out, method: 'ti', triggerWord: 'red', steps: 1 })).rejects.toThrow(/already a word of the model's vocabulary/);
    await Promise.all([baseModel.release(), tuned.release()]);
  }, 60_000);

  it('full fine-tuning writes a model package that loads and samples', async () => {
    const out = path.join(root, 'full-model');
    const r = await finetune({ base, data, out, method: 'full', steps: 30, learningRate: 1e-3, holdOut: 2, threads: 2, ema: 0.9 });
    expect(r.heldOutLoss!.after).toBeLessThan(r.heldOutLoss!.before);
    const m = await loadModel(out, { threads: 2 });
    expect(m.spec.hash).not.toBe((await loadModel(base)).spec.hash);
    const [img] = await txt2img(m, { prompt: 'red square', seed: 1 });
    expect(img!.image.width).toBe(32);
    await m.release();
    await expect(finetune({ base, data, out: path.join(root, 'x.safetensors'), method: 'full', steps: 1 })).rejects.toThrow(/model package folder/);
  }, 60_000);
});
