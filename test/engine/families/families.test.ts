// Recognising SD 1.x / SD 2.x single files and diffusers folders, inferring their configs from shapes,
// and refusing what is not supported with one clear line.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFamilyModel, parsePrediction, recogniseModel } from '../../../electron/engine/families/index.ts';
import { SD1_TEXT, SD1_UNET, SD2_UNET, TINY_VAE, writeDiffusersFolder, writeSafetensorsFile, writeSd1File, writeSd2File } from './tiny-sd.ts';

let root: string;
const f = (n: string) => path.join(root, n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-families-'));
  await writeSd1File(f('sd1.safetensors'));
  await writeSd1File(f('sd1-ema-f16.safetensors'), { ema: true, dtype: 'F16' });
  await writeSd1File(f('sd1-inpaint.safetensors'), { inChannels: 9 });
  await writeSd2File(f('sd2.safetensors'));
  await writeSd2File(f('sd2-v.safetensors'), { metadata: { 'modelspec.prediction_type': 'v' } });
  await writeDiffusersFolder(f('diffusers'), { prediction: 'v_prediction' });
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('recognising and inferring', () => {
  it('SD 1.x: CompVis names, 8 heads, CLIP text tower with quick-GELU; extra buffers ignored', async () => {
    const r = await recogniseModel(f('sd1.safetensors'));
    expect([r.family, r.kind, r.prediction]).toEqual(['sd1', 'txt2img', null]);
    const m = await openFamilyModel(f('sd1.safetensors'));
    expect(m.unet).toEqual(SD1_UNET);
    expect(m.autoencoder).toEqual(TINY_VAE);
    expect(m.textEncoder).toEqual(SD1_TEXT);
    expect([m.prediction, m.predictionSource, m.defaults.width, m.scaleFactor]).toEqual(['epsilon', 'default', 512, 0.18215]);
  });

  it('SD 1.x EMA file: the EMA weights are used and the note says so', async () => {
    const r = await recogniseModel(f('sd1-ema-f16.safetensors'));
    expect(r.notes.join()).toMatch(/EMA weights \(model_ema\.\*\)/);
    const m = await openFamilyModel(f('sd1-ema-f16.safetensors'));
    expect(m.unet).toEqual(SD1_UNET);
    const w = m.weights;
    if (w.kind !== 'files') throw new Error('expected file weights');
    expect(w.networks.unet('model.diffusion_model.input_blocks.0.0.weight')!.entry.name).toBe('model_ema.diffusion_modelinput_blocks00weight');
    expect(w.networks.unet('model.diffusion_model.input_blocks.0.0.weight')!.entry.dtype).toBe('F16');
  });

  it('the 9-channel UNet is the inpainting variant', async () => {
    const r = await recogniseModel(f('sd1-inpaint.safetensors'));
    expect([r.family, r.kind]).toEqual(['sd1', 'inpaint']);
  });

  it('SD 2.x: OpenCLIP tower read at the penultimate layer, 64-channel heads, linear proj_in', async () => {
    const r = await recogniseModel(f('sd2.safetensors'));
    expect([r.family, r.prediction]).toEqual(['sd2', null]);
    const m = await openFamilyModel(f('sd2.safetensors'));
    expect(m.unet).toEqual(SD2_UNET);
    expect(m.textEncoder).toEqual({ ...SD1_TEXT, layers: 2, activation: 'gelu' });
    expect([m.prediction, m.predictionSource]).toEqual(['epsilon', 'default']);
    expect(m.notes.join()).toMatch(/does not say what the UNet predicts/);
    const w = m.weights;
    if (w.kind !== 'files') throw new Error('expected file weights');
    const k = w.networks.textEncoder('cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.k_proj.weight')!;
    expect([k.entry.name, k.start, k.length]).toEqual(['cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight', 64 * 64 * 4, 64 * 64 * 4]);
  });

  it('SD 2.x prediction type: from metadata, else the user setting wins; 768 for v', async () => {
    const v = await openFamilyModel(f('sd2-v.safetensors'));
    expect([v.prediction, v.predictionSource, v.defaults.width, v.schedulerConfig.prediction]).toEqual(['v_prediction', 'file', 768, 'v_prediction']);
    const set = await openFamilyModel(f('sd2.safetensors'), { prediction: parsePrediction('v') });
    expect([set.prediction, set.predictionSource]).toEqual(['v_prediction', 'setting']);
    expect(() => parsePrediction('x')).toThrow(/'v' or 'eps'/);
  });

  it('diffusers folder: configs from shapes + config.json, prediction from scheduler_config.json', async () => {
    const r = await recogniseModel(f('diffusers'));
    expect([r.family, r.kind, r.prediction]).toEqual(['diffusers', 'txt2img', 'v_prediction']);
    const m = await openFamilyModel(f('diffusers'));
    expect(m.unet).toEqual(SD1_UNET);
    expect(m.autoencoder).toEqual(TINY_VAE);
    expect(m.textEncoder).toEqual(SD1_TEXT);
    expect(m.defaults.width).toBe(16);
    expect(m.schedulerConfig).toMatchObject({ prediction: 'v_prediction', timestepSpacing: 'leading', stepsOffset: 1 });
    expect(Array.from(m.tokenize('a red cat')).slice(0, 6)).toEqual([49406, 158, 191, 189, 49407, 49407]);
  });
});

describe('refusing with one clear line', () => {
  it('truncated file, SDXL, SD3, Flux, a LoRA, a UNet without a text tower, pickles', async () => {
    const bytes = await fsp.readFile(f('sd1.safetensors'));
    await fsp.writeFile(f('cut.safetensors'), bytes.subarray(0, bytes.length - 100));
    await expect(recogniseModel(f('cut.safetensors'))).rejects.toThrow(/cut.safetensors is not a valid safetensors file/);
    const one = (name: string) => ({ name, shape: [1], values: new Float32Array(1) });
    const cases: [string, string[], RegExp][] = [
      ['xl', ['model.diffusion_model.input_blocks.0.0.weight', 'conditioner.embedders.1.model.ln_final.weight'], /SDXL checkpoint/],
      ['sd3', ['model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight'], /SD3 checkpoint/],
      ['flux', ['double_blocks.0.img_attn.qkv.weight'], /Flux checkpoint/],
      ['lora', ['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight'], /is a LoRA, not a model/],
      
      ['other', ['foo.weight'], /none with the names of a Stable Diffusion checkpoint/],
    ];
    for (const [name, keys, re] of cases) {
      await writeSafetensorsFile(f(`${name}.safetensors`), keys.map(one), 'F32');
      await expect(recogniseModel(f(`${name}.safetensors`)), name).rejects.toThrow(re);
    }
    await writeSafetensorsFile(f('unet.safetensors'), [
      { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [1], values: new Float32Array(1) },
      { name: 'model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight', shape: [2, 768], values: new Float32Array(1536) },
    ], 'F32');
    await expect(recogniseModel(f('unet.safetensors'))).rejects.toThrow(/cross-attends to 768-wide text \(Stable Diffusion 1.x\) but the file has no text encoder/);
    await fsp.writeFile(f('m.ckpt'), 'x');
    await expect(recogniseModel(f('m.ckpt'))).rejects.toThrow(/pickle checkpoint/);
  });

  it('an SD file without its text tower, a 5-channel UNet, heads that do not fit', async () => {
    await writeSd1File(f('notext.safetensors'), { noText: true, unet: { contextDim: 768 } });
    await expect(recogniseModel(f('notext.safetensors'))).rejects.toThrow(/cross-attends to 768-wide text \(Stable Diffusion 1.x\) but the file has no text encoder/);
    await writeSd1File(f('depth.safetensors'), { inChannels: 5 });
    await expect(recogniseModel(f('depth.safetensors'))).rejects.toThrow(/takes 5 input channels; Stable Diffusion models take 4 \(text to image\) or 9 \(inpainting\)/);
    // An SD 2.x-layout file whose UNet is 96 channels wide: SD 2.x splits attention into 64-channel heads.
    await writeSd2File(f('sd2-narrow.safetensors'), { unet: { modelChannels: 96, numHeadChannels: undefined, numHeads: 3 } });
    await expect(recogniseModel(f('sd2-narrow.safetensors'))).rejects.toThrow(/do not fit this family's 64 channels per head/);
  });
});
