import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModelDescription,
  ModelPackageError,
  loadModelPackage,
  saveModelPackage,
  validateManifest,
  validateModelPackage,
} from '../../../electron/engine/io/model-package.ts';
import { encodeSafetensors } from '../../../electron/engine/io/safetensors.ts';
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { modelParams, randomWeights } from '../../../electron/engine/nn/models.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET } from '../nn/helpers.ts';

const VOCAB = ['<pad>', '<start>', '<end>', 'a', 'red', 'heart'];

const DESC: ModelDescription = {
  name: 'tiny-test',
  kind: 'txt2img',
  architecture: { autoencoder: TINY_KL, unet: TINY_UNET, textEncoder: TINY_TEXT },
  tokenizer: { type: 'word', vocabulary: VOCAB, maxLength: TINY_TEXT.maxLength },
  scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon', timestepSpacing: 'leading' },
  sampling: { sampler: 'ddim', steps: 25, guidance: 5, width: 16, height: 16 },
  latentScaleFactor: 0.9,
  latentPreview: { weights: [[0.3, 0.1, 0, 0], [0, 0.3, 0.1, 0], [0, 0, 0.3, 0.1]], bias: [0, 0.1, 0.2] },
  provenance: { createdBy: 'test', seed: 1 },
  license: 'Apache-2.0',
};

let root: string;
let n = 0;
const weights = randomWeights(DESC.architecture, 42);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-package-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function fresh(): Promise<string> {
  const dir = path.join(root, `pkg${n++}`);
  await saveModelPackage(dir, DESC, weights);
  return dir;
}

async function editJson(dir: string, edit: (m: Record<string, any>) => void): Promise<void> {
  const file = path.join(dir, 'model.json');
  const m = JSON.parse(await fsp.readFile(file, 'utf8'));
  edit(m);
  await fsp.writeFile(file, JSON.stringify(m));
}

async function rejects(dir: string, pattern: RegExp): Promise<void> {
  const err = await validateModelPackage(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ModelPackageError);
  expect((err as Error).message).toMatch(pattern);
}

describe('model packages', () => {
  it('round-trips: weights, configs and every field come back as saved', async () => {
    const dir = await fresh();
    const pkg = await loadModelPackage(dir, { checkHashes: true });
    expect(pkg.manifest.name).toBe('tiny-test');
    expect(pkg.manifest.architecture).toEqual(DESC.architecture);
    expect(pkg.manifest.tokenizer).toEqual(DESC.tokenizer);
    expect(pkg.manifest.latentPreview).toEqual(DESC.latentPreview);
    expect(pkg.manifest.latentScaleFactor).toBe(0.9);
    expect(pkg.manifest.files.map((f) => [f.path, f.role])).toEqual([['model.safetensors', 'weights']]);
    expect(pkg.weights.size).toBe(modelParams(DESC.architecture).size);
    for (const [name, w] of weights) expect(pkg.weights.get(name)!.data).toEqual(w);
    expect(pkg.unused).toEqual([]);
    const loc = pkg.tensors.get('model.diffusion_model.out.2.weight')!;
    expect(loc.file).toBe(path.join(dir, 'model.safetensors'));
    expect(loc.entry.dtype).toBe('F32');
  });

  it('stores fp16 weights and extra files (tokenizer file, model card)', async () => {
    const dir = path.join(root, 'fp16');
    const desc = { ...DESC, tokenizer: { type: 'word', file: 'vocab.json', maxLength: TINY_TEXT.maxLength } };
    const m = await saveModelPackage(dir, desc, weights, {
      dtype: 'F16',
      weightsFile: 'tiny.safetensors',
      extraFiles: [
        { path: 'vocab.json', role: 'tokenizer', data: JSON.stringify(VOCAB) },
        { path: 'README.md', role: 'card', data: '# tiny\n' },
      ],
    });
    expect(m.files.map((f) => f.path)).toEqual(['tiny.safetensors', 'vocab.json', 'README.md']);
    const pkg = await loadModelPackage(dir, { checkHashes: true });
    const w = weights.get('model.diffusion_model.time_embed.0.weight')!;
    const back = pkg.weights.get('model.diffusion_model.time_embed.0.weight')!.data as Float32Array;
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i]! - w[i]!)).toBeLessThanOrEqual(Math.abs(w[i]!) * 1e-3 + 1e-7);
    expect(pkg.tensors.get('model.diffusion_model.time_embed.0.weight')!.entry.dtype).toBe('F16');
  });

  it('refuses to save incomplete or mis-shaped weights and inconsistent descriptions, writing nothing', async () => {
    const partial = new Map(weights);
    partial.delete('first_stage_model.decoder.conv_out.bias');
    await expect(saveModelPackage(path.join(root, 'bad1'), DESC, partial)).rejects.toThrow(/no weights given for first_stage_model.decoder.conv_out.bias/);
    const wrong = new Map<string, TensorData | Float32Array>(weights);
    wrong.set('first_stage_model.decoder.conv_out.bias', new Float32Array(5));
    await expect(saveModelPackage(path.join(root, 'bad2'), DESC, wrong)).rejects.toThrow(/conv_out.bias have shape \[3\] \(5 values\)/);
    await expect(saveModelPackage(path.join(root, 'bad3'), { ...DESC, license: '' }, weights)).rejects.toThrow(/license must be a non-empty string/);
    await expect(fsp.stat(path.join(root, 'bad3'))).rejects.toThrow();
  });

  it('names the missing or wrong piece', async () => {
    const missingJson = path.join(root, 'empty');
    await fsp.mkdir(missingJson);
    await rejects(missingJson, /not a model package: model.json is missing/);

    let dir = await fresh();
    await fsp.writeFile(path.join(dir, 'model.json'), '{"format": ');
    await rejects(dir, /model.json is not valid JSON/);

    dir = await fresh();
    await editJson(dir, (m) => (m.version = 7));
    await rejects(dir, /unknown version 7; this build reads version 1/);

    dir = await fresh();
    await editJson(dir, (m) => (m.kind = 'video'));
    await rejects(dir, /kind must be one of txt2img, class2img, inpaint, unconditional, autoencoder, got "video"/);

    dir = await fresh();
    await editJson(dir, (m) => (m.architecture.unet.channelMult = [1, 'x']));
    await rejects(dir, /architecture.unet.channelMult must be a non-empty list of positive integers/);

    dir = await fresh();
    await editJson(dir, (m) => (m.architecture.unet.contextDim = 16));
    await rejects(dir, /outputs width 12 but architecture.unet.contextDim is 16/);

    dir = await fresh();
    await editJson(dir, (m) => delete m.tokenizer);
    await rejects(dir, /tokenizer is missing/);

    dir = await fresh();
    await editJson(dir, (m) => delete m.latentPreview); // optional: a package without a preview projection loads
    expect((await loadModelPackage(dir, { checkHashes: false })).manifest.latentPreview).toBeUndefined();

    dir = await fresh();
    await editJson(dir, (m) => (m.latentPreview.weights = [[1, 2, 3]]));
    await rejects(dir, /latentPreview must be \{weights: 3 rows of 4 numbers/);

    dir = await fresh();
    await editJson(dir, (m) => (m.files[0].path = '../elsewhere.safetensors'));
    await rejects(dir, /must be a plain file name inside the package folder/);

    dir = await fresh();
    await fsp.rm(path.join(dir, 'model.safetensors'));
    await rejects(dir, /weights file model.safetensors listed in model.json is missing/);

    dir = await fresh();
    await fsp.appendFile(path.join(dir, 'model.safetensors'), 'x');
    await rejects(dir, /model.safetensors is \d+ bytes but model.json says \d+/);
  });

  it('reads model.json through one schema per section: the first problem names its field, the rule and the value', () => {
    const manifest = (edit: (m: Record<string, any>) => void = () => {}): Record<string, any> => {
      const m = structuredClone({ format: 'latent-diffusion-studio/model', version: 1, ...DESC, files: [{ path: 'model.safetensors', role: 'weights', bytes: 1, sha256: 'a'.repeat(64) }] }) as Record<string, any>;
      edit(m);
      return m;
    };
    const problem = (edit: (m: Record<string, any>) => void) => {
      try {
        validateManifest(manifest(edit));
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(ModelPackageError);
        return (err as Error).message;
      }
    };
    // Options the schema does not name stay, and the manifest comes back as given (nothing copied).
    const m = manifest((x) => (x.architecture.unet.futureOption = 1));
    expect(validateManifest(m)).toBe(m);
    expect(m.scheduler.timestepSpacing).toBe('leading');

    expect(problem((x) => (x.architecture.unet.numHeads = 0))).toBe('model.json: architecture.unet.numHeads must be a positive integer, got 0');
    expect(problem((x) => (x.architecture.textEncoder.width = 2 ** 60))).toMatch(/architecture.textEncoder.width must be a positive integer, got \d+/);
    expect(problem((x) => (x.architecture.unet.attentionResolutions = [8]))).toBe("model.json: architecture.unet.attentionResolutions: rate 8 is not one of the UNet's rates 1, 2");
    expect(problem((x) => (x.architecture.textEncoder.width = 13))).toBe('model.json: architecture.textEncoder: width 13 is not divisible by heads 2');
    expect(problem((x) => (x.tokenizer.vocabulary = ['a', 7]))).toBe('model.json: tokenizer.vocabulary[1] must be a string, got 7');
    expect(problem((x) => (x.files[0].sha256 = 'xyz'))).toBe('model.json: files[0].sha256 must be 64 hex digits, got "xyz"');
    expect(problem((x) => x.files.push({ ...x.files[0] }))).toBe('model.json: files: "model.safetensors" is listed twice');
    expect(problem((x) => (x.scheduler.betaSchedule = 'squaredcos'))).toBe('model.json: scheduler.betaSchedule must be scaled_linear (CompVis "linear"), sqrt_linear (linear β) or cosine, got "squaredcos"');
    expect(problem((x) => (x.scheduler.betaSchedule = 'sqrt_linear'))).toBe('accepted'); // what the diffusers family writes for linear β
    expect(problem((x) => (x.sampling = null))).toBe('model.json: sampling must be an object, got null');
    expect(problem((x) => (x.latentScaleFactor = 0))).toBe('model.json: latentScaleFactor must be a positive number, got 0');
    // Fields come first, in the order of model.json's sections; the checks across sections after them.
    expect(problem((x) => ((x.license = ''), (x.architecture.unet.contextDim = 16)))).toBe('model.json: license must be a non-empty string, got ""');
    expect(problem((x) => (x.kind = 'inpaint'))).toBe('model.json: architecture.unet.inChannels is 4 but a inpaint model over 4 latent channels needs 9');
    expect(problem((x) => (x.tokenizer.maxLength = 3))).toBe('model.json: tokenizer.maxLength 3 differs from architecture.textEncoder.maxLength 6');
  });

  it('reports missing tensors, wrong shapes and corrupted files in the weights', async () => {
    const rewrite = async (dir: string, tensors: Map<string, TensorData>) => {
      const bytes = encodeSafetensors(tensors);
      await fsp.writeFile(path.join(dir, 'model.safetensors'), bytes);
      await editJson(dir, (m) => {
        m.files[0].bytes = bytes.length;
      });
    };
    const asTensors = () => {
      const params = modelParams(DESC.architecture);
      return new Map([...weights].map(([k, v]) => [k, { dtype: 'float32', shape: params.get(k)!.shape, data: v } as TensorData]));
    };

    let dir = await fresh();
    let t = asTensors();
    t.delete('model.diffusion_model.middle_block.1.proj_in.weight');
    t.set('model_ema.decay', { dtype: 'float32', shape: [], data: Float32Array.from([0.999]) });
    await rewrite(dir, t);
    await rejects(dir, /lack 1 tensor the architecture needs: model.diffusion_model.middle_block.1.proj_in.weight/);

    dir = await fresh();
    t = asTensors();
    t.set('model.diffusion_model.out.2.bias', { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) });
    await rewrite(dir, t);
    await rejects(dir, /out.2.bias in model.safetensors has shape \[2, 2\] but the architecture needs \[4\]/);

    dir = await fresh();
    t = asTensors();
    t.set('model_ema.decay', { dtype: 'float32', shape: [], data: Float32Array.from([0.999]) });
    await rewrite(dir, t);
    expect((await validateModelPackage(dir)).unused).toEqual(['model_ema.decay']);

    dir = await fresh();
    const file = path.join(dir, 'model.safetensors');
    const bytes = await fsp.readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await fsp.writeFile(file, bytes);
    await validateModelPackage(dir); // sizes agree: only the hash sees it
    await expect(validateModelPackage(dir, { checkHashes: true })).rejects.toThrow(/model.safetensors does not match its sha256/);
  });
});
