// The paper's releases, as tiny files in their exact key layout (.ckpt in torch.save's layout and
// .safetensors): each recognised as its kind with its config inferred from the shapes, details handled by
// name (EMA copy, loss tensors, DDPM buffers), unsupported releases named, and each running its job.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagenetClassIndex, imagenetClassNames } from '../../../electron/engine/families/ldm-classes.ts';
import { LdmReleaseError, readReleaseYaml, recogniseLdmRelease } from '../../../electron/engine/families/ldm-release.ts';
import { inpaintLdm, openLdmRelease, readShapes, roundTrip, sampleLdm, sampleLdmLatents, upscaleLdm, type LdmModel } from '../../../electron/engine/families/ldm-run.ts';
import { autoencoderParams, classEmbedderParams, unetParams } from '../../../electron/engine/nn/models.ts';
import { ldmBertForward } from '../../../electron/engine/nn/ldm-bert.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { tensor, type Shape } from '../../../electron/engine/tensor.ts';
import { TINY_BERT, TINY_TXT2IMG, TINY_CIN, TINY_CLASSES, TINY_INPAINT, TINY_KL_F8, TINY_SR, TINY_UNCOND, TINY_VQ_F4, tinyStateDict, writeTinyRelease, type TinyRelease } from './ldm-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-release-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (kind: TinyRelease, ext: 'ckpt' | 'safetensors') => join(dir, `${kind}.${ext}`);

beforeAll(async () => {
  for (const kind of ['vq-f4', 'kl-f8', 'uncond', 'cin', 'sr', 'inpaint', 'txt2img'] as const) await writeTinyRelease(kind, file(kind, 'ckpt'), file(kind, 'safetensors'));
});

const shapesOf = (sd: Map<string, { shape: Shape }>) => new Map([...sd].map(([k, v]) => [k, v.shape]));

describe('recognising the releases from their shapes', () => {
  it.each([
    ['vq-f4', 'vq-f4', 'autoencoder', TINY_VQ_F4, null],
    ['kl-f8', 'kl-f8', 'autoencoder', TINY_KL_F8, null],
    ['uncond', 'unconditional LDM (vq-f4)', 'unconditional', TINY_VQ_F4, TINY_UNCOND],
    ['cin', 'cin256-v2', 'class-conditional', TINY_VQ_F4, TINY_CIN],
    ['sr', 'bsr_sr', 'super-resolution', TINY_VQ_F4, TINY_SR],
    ['inpaint', 'inpainting_big', 'inpainting', TINY_VQ_F4, TINY_INPAINT],
    ['txt2img', 'txt2img-f8-large', 'text-to-image', TINY_KL_F8, TINY_TXT2IMG],
  ] as const)('%s: from .ckpt and .safetensors alike', async (kind, release, task, ae, unet) => {
    for (const ext of ['ckpt', 'safetensors'] as const) {
      const r = recogniseLdmRelease(await readShapes(file(kind, ext)));
      expect(r.release).toBe(release);
      expect(r.task).toBe(task);
      expect(r.autoencoder).toEqual(ae);
      if (unet) expect(r.unet).toEqual({ ...unet, contextDim: unet.contextDim ?? null });
      else expect(r.unet).toBeNull();
    }
  });

  it('handles by name what the tiny files cannot exercise: EMA copy, loss tensors, class 1000 = no class', () => {
    const cin = recogniseLdmRelease(shapesOf(tinyStateDict('cin')));
    expect(cin.classEmbedder).toEqual(TINY_CLASSES);
    expect(cin.unconditionalClass).toBe(1000);
    expect(cin.notes.join('\n')).toMatch(/an EMA copy is in the file \(\d+ tensors under model_ema\.\*, with num_updates\): the model's own weights are used/);
    const vq = recogniseLdmRelease(shapesOf(tinyStateDict('vq-f4')));
    expect(vq.notes.join('\n')).toMatch(/left out the training loss \(3 tensors under loss\.\*/);
    expect(vq.label).toMatch(/VQ autoencoder \(16-entry codebook\), f=4, 3 latent channels/);
    // a release without cond_stage_model (the inpainting and SR models encode with the first stage)
    expect(recogniseLdmRelease(shapesOf(tinyStateDict('inpaint'))).classEmbedder).toBeNull();
  });

  it('reads scale factor and heads from the yaml beside the file', () => {
    const y = readReleaseYaml('model:\n  params:\n    linear_start: 0.0015\n    linear_end: 0.0155\n    scale_factor: 0.22765929\n    unet_config:\n      params:\n        num_head_channels: 32\n');
    expect(y).toEqual({ linearStart: 0.0015, linearEnd: 0.0155, scaleFactor: 0.22765929, numHeadChannels: 32 });
    const r = recogniseLdmRelease(shapesOf(tinyStateDict('uncond')), y);
    expect(r.scaleFactor).toBe(0.22765929);
  });

  it("a super-resolution model's yaml may set its default upscale strength (upscale_strength, in (0, 1]) and back-projection rounds (upscale_back_projection, 0–10); other tasks ignore them", () => {
    expect(readReleaseYaml('    upscale_strength: 0.6\n    upscale_back_projection: 3\n')).toEqual({ upscaleStrength: 0.6, upscaleBackProjection: 3 });
    expect(readReleaseYaml('    upscale_back_projection: 2.5\n')).toEqual({});
    expect(readReleaseYaml('    upscale_strength: 1.5\n')).toEqual({});
    expect(recogniseLdmRelease(shapesOf(tinyStateDict('sr')), { upscaleStrength: 0.6, upscaleBackProjection: 0 })).toMatchObject({ upscaleStrength: 0.6, upscaleBackProjection: 0 });
    expect(recogniseLdmRelease(shapesOf(tinyStateDict('uncond')), { upscaleStrength: 0.6 }).upscaleStrength).toBeUndefined();
  });

  it('LDM-KL-8-G: the τθ inferred from its shapes (8 heads of 64 in the release: 1 here), scale factor 0.18215 by name', () => {
    const r = recogniseLdmRelease(shapesOf(tinyStateDict('txt2img')));
    expect(r.bert).toEqual(TINY_BERT);
    expect(r.scaleFactor).toBe(0.18215);
    expect(r.label).toMatch(/LDM-KL-8-G text-to-image \(txt2img-f8-large: 2-layer, 32-wide BERT-style τθ, bert-base-uncased WordPiece\), kl-f8 first stage/);
  });

  it('names what it detected when it cannot run it', () => {
    const base = shapesOf(tinyStateDict('cin'));
    const noattn = shapesOf(tinyStateDict('vq-f4'));
    for (const k of [...noattn.keys()]) if (k.includes('mid.attn_1')) noattn.delete(k);
    expect(() => recogniseLdmRelease(noattn)).toThrow(/vq-f4-noattn/);
    const sd = new Map(base);
    sd.set('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight', [49408, 768]);
    expect(() => recogniseLdmRelease(sd)).toThrow(/Stable Diffusion checkpoint/);
    const layout = new Map([...base].filter(([k]) => !k.startsWith('cond_stage_model.')));
    layout.set('cond_stage_model.transformer.token_emb.weight', [8192, 32]);
    layout.set('cond_stage_model.transformer.pos_emb.emb.weight', [92, 32]);
    expect(() => recogniseLdmRelease(layout)).toThrow(/layout-to-image LDM \(layout2img-openimages256 style: a BERT-style τθ over 8192 layout tokens/);
    const semantic = new Map([...base].filter(([k]) => !k.startsWith('cond_stage_model.')));
    semantic.set('cond_stage_model.channel_mapper.weight', [3, 182, 1, 1]);
    expect(() => recogniseLdmRelease(semantic)).toThrow(/semantic-synthesis LDM/);
    const cin1000 = new Map(base);
    cin1000.set('cond_stage_model.embedding.weight', [1000, 32]);
    expect(recogniseLdmRelease(cin1000)).toMatchObject({ release: 'cin256', unconditionalClass: null });
    const noCond = new Map([...base].filter(([k]) => !k.startsWith('cond_stage_model.')));
    expect(() => recogniseLdmRelease(noCond)).toThrow(/cross-attends to 32-wide context but the file has no conditioning model \(cond_stage_model\.\* is missing\)/);
    const emaOnly = new Map([...base].filter(([k]) => !k.startsWith('model.diffusion_model.')));
    expect(() => recogniseLdmRelease(emaOnly)).toThrow(/only in the file as its EMA copy/);
    const noFirst = new Map([...base].filter(([k]) => !k.startsWith('first_stage_model.')));
    expect(() => recogniseLdmRelease(noFirst)).toThrow(/without its first stage/);
    expect(() => recogniseLdmRelease(new Map([['foo.weight', [3]]]))).toThrow(LdmReleaseError);
  });
});

function image(seed: number, h = 32, w = 32) {
  const data = new Float32Array(3 * h * w);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + seed) * 0.8;
  return tensor('float32', [1, 3, h, w], data);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('running each release', () => {
  const opened: LdmModel[] = [];
  afterAll(async () => {
    for (const m of opened) await m.close();
  });
  const open = async (kind: TinyRelease, ext: 'ckpt' | 'safetensors' = 'ckpt') => {
    const o = await openLdmRelease(file(kind, ext));
    opened.push(o.model);
    return o;
  };

  it('VQ autoencoder: decoding snaps latents to their nearest codebook entries', async () => {
    const { model } = await open('vq-f4');
    const { latents, image: out } = await roundTrip(model, image(1));
    expect(latents.shape).toEqual([1, 3, 8, 8]);
    expect(out.shape).toEqual([1, 3, 32, 32]);
    const codebook = tinyStateDict('vq-f4').get('quantize.embedding.weight')!.data as Float32Array;
    const [, d, h, w] = latents.shape as number[];
    const snapped = new Float32Array(latents.data.length);
    for (let p = 0; p < h! * w!; p++) {
      let best = 0;
      let bestD = Infinity;
      for (let e = 0; e < 16; e++) {
        let dist = 0;
        for (let c = 0; c < d!; c++) dist += (latents.data[c * h! * w! + p]! - codebook[e * d! + c]!) ** 2;
        if (dist < bestD) [best, bestD] = [e, dist];
      }
      for (let c = 0; c < d!; c++) snapped[c * h! * w! + p] = codebook[best * d! + c]!;
    }
    const fromSnapped = await model.decodeLatents(tensor('float32', latents.shape, snapped));
    expect(maxDiff(fromSnapped.data, out.data)).toBeLessThan(1e-5);
    expect(maxDiff(snapped, latents.data)).toBeGreaterThan(1e-3); // the snap did something
  });

  it('KL autoencoder f=8: encodes to 4 channels at 1/8 and back', async () => {
    const { model, release } = await open('kl-f8', 'safetensors');
    expect(release.release).toBe('kl-f8');
    const { latents, image: out } = await roundTrip(model, image(2, 64, 64));
    expect(latents.shape).toEqual([1, 4, 8, 8]);
    expect(out.shape).toEqual([1, 3, 64, 64]);
    expect(out.data.every(Number.isFinite)).toBe(true);
  });

  it('unconditional LDM: samples from a seed, the same from .ckpt and .safetensors; schedule from the betas buffer', async () => {
    const a = await open('uncond', 'ckpt');
    const b = await open('uncond', 'safetensors');
    expect(a.notes.join('\n')).toMatch(/noise schedule from the file's betas \(0\.001500 → 0\.01950, 1000 steps\)/);
    const x = await sampleLdm(a.model, { seed: 7, steps: 2, width: 32, height: 32 });
    const y = await sampleLdm(b.model, { seed: 7, steps: 2, width: 32, height: 32 });
    const z = await sampleLdm(a.model, { seed: 8, steps: 2, width: 32, height: 32 });
    expect(x.shape).toEqual([1, 3, 32, 32]);
    expect(x.data.every(Number.isFinite)).toBe(true);
    expect(maxDiff(x.data, y.data)).toBe(0);
    expect(maxDiff(x.data, z.data)).toBeGreaterThan(1e-3);
    await expect(sampleLdm(a.model, { seed: 1, steps: 2, width: 30, height: 32 })).rejects.toThrow(/multiples of 8/);
  });

  it('class-conditional LDM: the class steers the sample; guidance uses class 1000 as "no class"', async () => {
    const { model } = await open('cin');
    // compared before decoding: the VQ decoder snaps nearby latents to the same codebook entries
    const panda = await sampleLdmLatents(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 388 });
    const volcano = await sampleLdmLatents(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 980 });
    expect(maxDiff(panda.data, volcano.data)).toBeGreaterThan(1e-4);
    const guided = await sampleLdmLatents(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 388, guidance: 3 });
    expect(maxDiff(guided.data, panda.data)).toBeGreaterThan(1e-4);
    const byName = await sampleLdmLatents(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 'Giant Panda' });
    expect(maxDiff(byName.data, panda.data)).toBe(0);
    await expect(sampleLdm(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 'dragon' })).rejects.toThrow(/ImageNet class name, got 'dragon'/);
    await expect(sampleLdm(model, { seed: 3, steps: 2, width: 32, height: 32 })).rejects.toThrow(/give a class/);
    await expect(sampleLdm(model, { seed: 3, steps: 2, width: 32, height: 32, classLabel: 1001 })).rejects.toThrow(/class index from 0 to 1000 or an ImageNet class name/);
  });

  it('super-resolution ×4 (bsr_sr): a 8×8 picture becomes 32×32, steered by the low-res input', async () => {
    const { model, notes } = await open('sr');
    expect(notes.join('\n')).toMatch(/0\.01550/);
    const a = await upscaleLdm(model, image(4, 8, 8), { seed: 1, steps: 2 });
    const b = await upscaleLdm(model, image(5, 8, 8), { seed: 1, steps: 2 });
    expect(a.shape).toEqual([1, 3, 32, 32]);
    expect(maxDiff(a.data, b.data)).toBeGreaterThan(1e-4);
    await expect(sampleLdm(model, { seed: 1 })).rejects.toThrow(/super-resolution .* this job needs unconditional or class-conditional or text-to-image/);
  });

  it('text-to-image (LDM-KL-8-G): the prompt steers the sample through the τθ; guidance against the empty prompt', async () => {
    const { model, notes } = await open('txt2img');
    expect(notes.join('\n')).toMatch(/0\.0008500 → 0\.01200/);
    const a = await sampleLdmLatents(model, { seed: 5, steps: 2, width: 64, height: 64, prompt: 'a painting of a fox' });
    const b = await sampleLdmLatents(model, { seed: 5, steps: 2, width: 64, height: 64, prompt: 'a photograph of a lighthouse' });
    const g = await sampleLdmLatents(model, { seed: 5, steps: 2, width: 64, height: 64, prompt: 'a painting of a fox', guidance: 5 });
    expect(a.shape).toEqual([1, 4, 8, 8]);
    expect(maxDiff(a.data, b.data)).toBeGreaterThan(1e-5);
    expect(maxDiff(a.data, g.data)).toBeGreaterThan(1e-5);
    const picture = await sampleLdm(model, { seed: 5, steps: 2, width: 64, height: 64, prompt: 'a painting of a fox' });
    expect(picture.shape).toEqual([1, 3, 64, 64]);
  });

  it('inpainting (inpainting_big): the masked picture steers the result', async () => {
    const { model } = await open('inpaint');
    const mask = new Float32Array(32 * 32);
    for (let y = 8; y < 24; y++) for (let x = 8; x < 24; x++) mask[y * 32 + x] = 1;
    const a = await inpaintLdm(model, image(6), mask, { seed: 2, steps: 2 });
    const b = await inpaintLdm(model, image(9), mask, { seed: 2, steps: 2 });
    expect(a.shape).toEqual([1, 3, 32, 32]);
    expect(maxDiff(a.data, b.data)).toBeGreaterThan(1e-4);
    // outside the mask the picture is kept exactly
    const src = image(6).data;
    for (let c = 0; c < 3; c++) for (const i of [0, 5 * 32 + 5, 31 * 32 + 31]) expect(a.data[c * 1024 + i]).toBe(src[c * 1024 + i]);
  });
});

it('ships the 1,000 ImageNet class names in index order', () => {
  const names = imagenetClassNames();
  expect(names).toHaveLength(1000);
  expect([names[0], names[1], names[207], names[388], names[980]]).toEqual(['tench', 'goldfish', 'golden retriever', 'giant panda', 'volcano']);
  expect(imagenetClassIndex('golden retriever')).toBe(207);
  expect(imagenetClassIndex('42')).toBe(42);
  expect(imagenetClassIndex('unicorn')).toBeNull();
});

it('a yaml beside the file sets the scale factor', async () => {
  const sub = mkdtempSync(join(dir, 'y-'));
  await writeTinyRelease('vq-f4', null, join(sub, 'model.safetensors'));
  writeFileSync(join(sub, 'config.yaml'), 'model:\n  params:\n    scale_factor: 0.5\n');
  const o = await openLdmRelease(join(sub, 'model.safetensors'));
  expect(o.release.scaleFactor).toBe(0.5);
  expect(o.notes.join('\n')).toMatch(/settings read from config\.yaml/);
  await o.model.close();
});

it('the families registry names a paper release and sends it to `ldm paper`', async () => {
  const { recogniseModel } = await import('../../../electron/engine/families/index.ts');
  await expect(recogniseModel(file('cin', 'safetensors'))).rejects.toThrow(/one of the paper's releases: class-conditional LDM \(1001 classes.*run it with `ldm paper FILE`/);
  await expect(recogniseModel(file('vq-f4', 'safetensors'))).rejects.toThrow(/VQ autoencoder \(16-entry codebook\), f=4/);
});

it('weights over the limit go once to a temporary safetensors file read in place: same samples, removed on close (or by the next open, once their process is gone)', async () => {
  const { existsSync, mkdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { scratchRoot } = await import('../../../electron/engine/pipelines/weight-cache.ts');
  // a spill left by a killed worker (pid 2^22 + 1 is above Linux's pid_max: no such process)
  const stale = join(scratchRoot(), `ldm-paper-${2 ** 22 + 1}-x`);
  mkdirSync(stale, { recursive: true });
  const small = await openLdmRelease(file('uncond', 'ckpt'));
  const big = await openLdmRelease(file('uncond', 'ckpt'), { maxEmbeddedBytes: 1000 });
  expect(big.notes.join('\n')).toMatch(/written once to a temporary safetensors file/);
  const a = await sampleLdmLatents(small.model, { seed: 4, steps: 2, width: 32, height: 32 });
  const b = await sampleLdmLatents(big.model, { seed: 4, steps: 2, width: 32, height: 32 });
  expect(maxDiff(a.data, b.data)).toBeLessThan(1e-6);
  const temp = (big.model as unknown as { weights: { tempDir: string } }).weights.tempDir;
  expect(existsSync(temp)).toBe(true);
  expect(temp.startsWith(tmpdir())).toBe(false); // not the often RAM-backed temp folder
  expect(existsSync(stale)).toBe(false);
  await small.model.close();
  await big.model.close();
  expect(existsSync(temp)).toBe(false);
});

it('the EMA copy on request: the UNet read from model_ema.* (LitEma names), as a file holding those weights gives', async () => {
  const { saveSafetensors } = await import('../../../electron/engine/io/safetensors.ts');
  const { emaName } = await import('../../../electron/engine/families/ldm-run.ts');
  const sd = tinyStateDict('uncond');
  const swapped = new Map(sd);
  for (const k of sd.keys()) if (k.startsWith('model.diffusion_model.')) swapped.set(k, sd.get(emaName(k))!);
  const f = join(dir, 'ema-as-model.safetensors');
  await saveSafetensors(f, swapped);
  const withEma = await openLdmRelease(file('uncond', 'ckpt'), { ema: true });
  const plain = await openLdmRelease(file('uncond', 'ckpt'));
  const reference = await openLdmRelease(f);
  expect(withEma.notes.join('\n')).toMatch(/the UNet's \d+ tensors taken from the EMA copy/);
  const o = { seed: 2, steps: 2, width: 32, height: 32 };
  const a = await sampleLdmLatents(withEma.model, o);
  expect(maxDiff(a.data, (await sampleLdmLatents(reference.model, o)).data)).toBe(0);
  expect(maxDiff(a.data, (await sampleLdmLatents(plain.model, o)).data)).toBeGreaterThan(1e-5);
  for (const x of [withEma, plain, reference]) await x.model.close();
});

describe('the released first stages at their real sizes (shapes only: CompVis configs/autoencoder/*.yaml)', () => {
  const base = { ch: 128, numResBlocks: 2, resolution: 256, inChannels: 3, outCh: 3 } as const;
  const kl = (chMult: number[], z: number, attn: number[] = []) => ({ ...base, kind: 'kl' as const, chMult, zChannels: z, embedDim: z, attnResolutions: attn });
  const vq = (chMult: number[], z: number, nEmbed: number, attn: number[] = []) => ({ ...base, kind: 'vq' as const, chMult, zChannels: z, embedDim: z, nEmbed, beta: 0.25, attnResolutions: attn });
  it.each([
    ['kl-f4', kl([1, 2, 4], 3)],
    ['kl-f8', kl([1, 2, 4, 4], 4)],
    ['kl-f16', kl([1, 1, 2, 2, 4], 16, [16])],
    ['kl-f32', kl([1, 1, 2, 2, 4, 4], 64, [16, 8])],
    ['vq-f4', vq([1, 2, 4], 3, 8192)],
    ['vq-f8', vq([1, 2, 2, 4], 4, 16384, [32])],
    ['vq-f8-n256', vq([1, 2, 2, 4], 4, 256, [32])],
    ['vq-f16', vq([1, 1, 2, 2, 4], 8, 16384, [16])],
  ])('%s', (name, cfg) => {
    const shapes = new Map([...autoencoderParams(cfg).values()].map((p) => [p.name.replace(/^first_stage_model\./, ''), p.shape]));
    const r = recogniseLdmRelease(shapes);
    expect(r.release).toBe(name);
    expect(r.autoencoder).toEqual(cfg);
  });
});

describe('the released LDMs at their real sizes (shapes only: CompVis configs/latent-diffusion/*.yaml)', () => {
  const shapesOf2 = (...maps: Map<string, { name: string; shape: Shape }>[]) => new Map(maps.flatMap((m) => [...m.values()].map((p) => [p.name, p.shape] as [string, Shape])));
  const vqF4 = { kind: 'vq' as const, ch: 128, chMult: [1, 2, 4], numResBlocks: 2, attnResolutions: [], resolution: 256, inChannels: 3, outCh: 3, zChannels: 3, embedDim: 3, nEmbed: 8192, beta: 0.25 };
  const klF8 = { kind: 'kl' as const, ch: 128, chMult: [1, 2, 4, 4], numResBlocks: 2, attnResolutions: [], resolution: 256, inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4 };

  it('cin256-v2: 192 channels, mult [1,2,3,5], 32-channel heads, 512-wide class context, 1001 classes', () => {
    const unet = { inChannels: 3, outChannels: 3, modelChannels: 192, channelMult: [1, 2, 3, 5], numResBlocks: 2, attentionResolutions: [8, 4, 2], numHeadChannels: 32, transformerDepth: 1, contextDim: 512 };
    const r = recogniseLdmRelease(shapesOf2(unetParams(unet), autoencoderParams(vqF4), classEmbedderParams({ nClasses: 1001, embedDim: 512 })));
    expect(r).toMatchObject({ release: 'cin256-v2', task: 'class-conditional', unet, autoencoder: vqF4, unconditionalClass: 1000 });
  });

  it('txt2img-f8-large: 320 channels, 8 heads, 1280-wide context from a 32-layer τθ', () => {
    const unet = { inChannels: 4, outChannels: 4, modelChannels: 320, channelMult: [1, 2, 4, 4], numResBlocks: 2, attentionResolutions: [4, 2, 1], numHeads: 8, transformerDepth: 1, contextDim: 1280 };
    const bert = { vocabSize: 30522, maxLength: 77, width: 1280, layers: 32, heads: 8, headDim: 64, ffMult: 4 };
    const g = new Graph('bert');
    ldmBertForward(g, bert, g.input('input_ids', 'int64', [1, 77]));
    const r = recogniseLdmRelease(shapesOf2(unetParams(unet), autoencoderParams(klF8), g.params));
    expect(r).toMatchObject({ release: 'txt2img-f8-large', task: 'text-to-image', unet, autoencoder: klF8, bert, scaleFactor: 0.18215 });
  });

  it('CelebA-HQ / FFHQ unconditional: 224 channels, plain AttentionBlocks of 32-channel heads', () => {
    const unet = { inChannels: 3, outChannels: 3, modelChannels: 224, channelMult: [1, 2, 3, 4], numResBlocks: 2, attentionResolutions: [8, 4, 2], numHeadChannels: 32, transformerDepth: 1, contextDim: null, legacyAttention: true };
    const r = recogniseLdmRelease(shapesOf2(unetParams(unet), autoencoderParams(vqF4)));
    expect(r).toMatchObject({ task: 'unconditional', unet, autoencoder: vqF4 });
  });
});
