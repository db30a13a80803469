import { describe, it, expect } from 'vitest';
import sharp from 'sharp';
import {
  GenerationParamsError,
  formatParameters,
  parseComfyUI,
  parseInvokeAI,
  parseParameters,
  readGenerationParams,
  type GenerationParams,
} from '../../../electron/engine/io/generation-params.ts';
import { writePngText } from '../../../electron/engine/io/png-metadata.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';

describe('A1111 infotext: writing', () => {
  it('writes the documented layout', () => {
    const text = formatParameters({
      prompt: 'a photo of a cat',
      negative: 'blurry',
      steps: 20,
      sampler: 'Euler a',
      cfg: 7,
      seed: 965400086,
      width: 512,
      height: 512,
      modelHash: '45dee52b',
      model: 'v1-5',
      strength: 0.75,
      extras: { Version: 'ldm-studio 0.1.0' },
    });
    expect(text).toBe(
      'a photo of a cat\nNegative prompt: blurry\n' +
        'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b, Model: v1-5, Denoising strength: 0.75, Version: ldm-studio 0.1.0',
    );
  });

  it('leaves out an empty negative prompt and JSON-quotes values with , : or newlines', () => {
    const text = formatParameters({
      prompt: 'x',
      negative: '',
      steps: 5,
      sampler: 'DDIM',
      cfg: 7.5,
      seed: 1,
      width: 64,
      height: 32,
      extras: { 'Lora hashes': 'a: 1, b: 2', Note: 'two\nlines' },
    });
    expect(text).toBe('x\nSteps: 5, Sampler: DDIM, CFG scale: 7.5, Seed: 1, Size: 64x32, Lora hashes: "a: 1, b: 2", Note: "two\\nlines"');
  });

  it('rejects bad keys and numbers', () => {
    const base: GenerationParams = { prompt: 'p', negative: '', steps: 1, sampler: 'DDIM', cfg: 1, seed: 1, extras: {} };
    expect(() => formatParameters({ ...base, extras: { 'a:b': 'x' } })).toThrow(GenerationParamsError);
    expect(() => formatParameters({ ...base, extras: { Steps: '3' } })).toThrow(/own field/);
    expect(() => formatParameters({ ...base, steps: 2.5 })).toThrow(/whole number/);
    expect(() => formatParameters({ ...base, cfg: Infinity })).toThrow(/finite/);
    expect(() => formatParameters({ ...base, width: 512 })).toThrow(/give both or neither/);
  });
});

describe('A1111 infotext: reading', () => {
  it('parses a real-world infotext by key', () => {
    const text = [
      'masterpiece, best quality, a cat sitting on a windowsill,',
      'sunset lighting',
      'Negative prompt: lowres, bad anatomy',
      'blurry',
      'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, Model hash: 6ce0161689, ' +
        'Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Hires upscale: 2, Lora hashes: "add_detail: 7c6bad76eb54, more_art: 0a8b3a1b2c3d", Version: v1.10.1',
    ].join('\n');
    expect(parseParameters(text)).toEqual({
      prompt: 'masterpiece, best quality, a cat sitting on a windowsill,\nsunset lighting',
      negative: 'lowres, bad anatomy\nblurry',
      steps: 28,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      cfg: 6.5,
      seed: 3141592653,
      width: 512,
      height: 768,
      modelHash: '6ce0161689',
      model: 'v1-5-pruned-emaonly',
      strength: 0.45,
      hiresUpscale: 2,
      loraHashes: { add_detail: '7c6bad76eb54', more_art: '0a8b3a1b2c3d' },
      version: 'v1.10.1',
      extras: {},
      source: 'a1111',
    });
  });

  it('treats a last line with fewer than 3 pairs as prompt', () => {
    const p = parseParameters('a landscape\nstyle: oil, mood: calm');
    expect(p.prompt).toBe('a landscape\nstyle: oil, mood: calm');
    expect(p.steps).toBeUndefined();
    expect(parseParameters('just a prompt')).toEqual({ prompt: 'just a prompt', negative: '', extras: {}, source: 'a1111' });
  });

  it('keeps values it cannot read as numbers in extras rather than guessing', () => {
    const p = parseParameters('p\nSteps: many, Sampler: UniPC, CFG scale: 7, Seed: 3, Size: big');
    expect(p.steps).toBeUndefined();
    expect(p.sampler).toBe('UniPC');
    expect(p.extras).toEqual({ Steps: 'many', Size: 'big' });
  });

  it('round-trips randomised parameters', () => {
    const rng = new Rng(99);
    const pick = <T,>(xs: T[]): T => xs[Math.floor(rng.uniform(1)[0]! * xs.length)]!;
    const words = ['cat', 'a, b', 'x: y', 'line\nbreak', 'quote "q"', 'ünï', '(emph:1.2)', 'back\\slash', 'tab\there'];
    for (let i = 0; i < 200; i++) {
      const p: GenerationParams = {
        prompt: `${pick(words)} ${pick(words)}`.replace(/^\s+|\s+$/g, '').replace(/^Negative prompt:/, ''),
        negative: pick(['', 'blurry', 'bad, ugly', 'multi\nline']),
        steps: 1 + Math.floor(rng.uniform(1)[0]! * 150),
        sampler: pick(['Euler a', 'DPM++ 2M Karras', 'DDIM', 'PLMS', 'Euler', 'DDPM']),
        cfg: Math.round(rng.uniform(1)[0]! * 300) / 10,
        seed: Math.floor(rng.uniform(1)[0]! * 2 ** 32),
        width: 64 * (1 + Math.floor(rng.uniform(1)[0]! * 16)),
        height: 64 * (1 + Math.floor(rng.uniform(1)[0]! * 16)),
        model: pick(['tiny', 'my model, v2', 'a:b']),
        modelHash: 'abcdef12',
        strength: pick([undefined, 0.5, 0.75]),
        extras: pick<Record<string, string>>([{}, { Eta: '0.5' }, { 'Hires prompt': 'a, b: c', Note: 'x\ny' }]),
        source: 'a1111',
      };
      if (p.strength === undefined) delete p.strength;
      // The fields beyond the classic ones, each present half the time.
      const more: Partial<GenerationParams> = {
        scheduleType: pick(['Karras', 'Automatic', 'SGM Uniform']),
        vae: 'vae-ft-mse, v2',
        vaeHash: '735e4c3a44',
        variationSeed: 12345,
        variationStrength: 0.25,
        seedResizeFrom: { width: 512, height: 768 },
        clipSkip: 2,
        ensd: 31337,
        rng: pick(['CPU', 'NV']),
        hiresUpscale: 1.5,
        hiresSteps: 10,
        hiresUpscaler: 'Latent (nearest-exact)',
        hiresResize: { width: 1024, height: 1536 },
        loraHashes: { add_detail: '7c6bad76eb54', 'more art': '0a8b3a1b2c3d' },
        tiHashes: { easynegative: 'c74b4e810b03' },
        version: 'v1.10.1',
      };
      for (const [k, v] of Object.entries(more)) if (rng.uniform(1)[0]! < 0.5) (p as unknown as Record<string, unknown>)[k] = v;
      const back = parseParameters(formatParameters(p));
      expect(back, formatParameters(p)).toEqual(p);
    }
  });
});

const COMFY_PROMPT = JSON.stringify({
  '3': {
    inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'dpmpp_2m', scheduler: 'karras', denoise: 1, model: ['10', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    class_type: 'KSampler',
  },
  '4': { inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' }, class_type: 'CheckpointLoaderSimple' },
  '5': { inputs: { width: 512, height: 768, batch_size: 1 }, class_type: 'EmptyLatentImage' },
  '6': { inputs: { text: ['11', 0], clip: ['4', 1] }, class_type: 'CLIPTextEncode' },
  '7': { inputs: { text: 'text, watermark', clip: ['4', 1] }, class_type: 'CLIPTextEncode' },
  '8': { inputs: { samples: ['3', 0], vae: ['4', 2] }, class_type: 'VAEDecode' },
  '9': { inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] }, class_type: 'SaveImage' },
  '10': { inputs: { lora_name: 'detail.safetensors', strength_model: 1, model: ['4', 0], clip: ['4', 1] }, class_type: 'LoraLoader' },
  '11': { inputs: { value: 'beautiful scenery, glass bottle' }, class_type: 'PrimitiveString' },
});

const COMFY_WORKFLOW = JSON.stringify({
  last_node_id: 9,
  nodes: [
    {
      id: 3,
      type: 'KSampler',
      inputs: [
        { name: 'model', type: 'MODEL', link: 1 },
        { name: 'positive', type: 'CONDITIONING', link: 4 },
        { name: 'negative', type: 'CONDITIONING', link: 6 },
        { name: 'latent_image', type: 'LATENT', link: 2 },
      ],
      widgets_values: [42, 'randomize', 25, 6.5, 'euler_ancestral', 'normal', 1],
    },
    { id: 4, type: 'CheckpointLoaderSimple', widgets_values: ['model.safetensors'] },
    { id: 5, type: 'EmptyLatentImage', widgets_values: [640, 448, 1] },
    { id: 6, type: 'CLIPTextEncode', widgets_values: ['a red fox'] },
    { id: 7, type: 'CLIPTextEncode', widgets_values: ['blurry'] },
  ],
  links: [
    [1, 4, 0, 3, 0, 'MODEL'],
    [2, 5, 0, 3, 3, 'LATENT'],
    [4, 6, 0, 3, 1, 'CONDITIONING'],
    [6, 7, 0, 3, 2, 'CONDITIONING'],
  ],
});

describe('ComfyUI', () => {
  it('reads the API graph, following links through primitives and LoRA loaders', () => {
    expect(parseComfyUI(COMFY_PROMPT)).toEqual({
      prompt: 'beautiful scenery, glass bottle',
      negative: 'text, watermark',
      seed: 156680208700286,
      steps: 20,
      cfg: 8,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      width: 512,
      height: 768,
      model: 'v1-5-pruned-emaonly.safetensors',
      extras: { Loras: 'detail.safetensors: 1' },
      source: 'comfyui',
    });
  });

  it('reads the UI workflow when there is no API graph', () => {
    expect(parseComfyUI(undefined, COMFY_WORKFLOW)).toEqual({
      prompt: 'a red fox',
      negative: 'blurry',
      seed: 42,
      steps: 25,
      cfg: 6.5,
      sampler: 'Euler a',
      scheduleType: 'Normal',
      width: 640,
      height: 448,
      model: 'model.safetensors',
      extras: {},
      source: 'comfyui',
    });
  });

  it('reads the NaN and Infinity that Python writes into JSON as missing values', () => {
    const text = '{"3": {"class_type": "KSampler", "inputs": {"seed": 5, "cfg": NaN, "steps": 4, "denoise": -Infinity, ' +
      '"positive": ["6", 0], "negative": ["6", 0]}}, "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "NaN and Infinity stay in \\"strings\\""}}}';
    const p = parseComfyUI(text);
    expect(p).toMatchObject({ seed: 5, steps: 4, prompt: 'NaN and Infinity stay in "strings"' });
    expect(p.cfg).toBeUndefined();
  });

  it('survives cycles and rejects malformed JSON', () => {
    const cyc = JSON.stringify({ '1': { class_type: 'KSampler', inputs: { positive: ['2', 0], seed: ['1', 0] } }, '2': { class_type: 'X', inputs: { conditioning: ['2', 0] } } });
    expect(parseComfyUI(cyc).prompt).toBe('');
    expect(() => parseComfyUI('{not json')).toThrow(/ComfyUI prompt is not valid JSON/);
    expect(() => parseComfyUI('[1]')).toThrow(/object of nodes/);
    expect(() => parseComfyUI(undefined, '{"nodes": 3}')).toThrow(/nodes list/);
  });
});

describe('InvokeAI', () => {
  it('reads invokeai_metadata', () => {
    const json = JSON.stringify({
      generation_mode: 'txt2img',
      positive_prompt: 'a lighthouse at dusk',
      negative_prompt: 'blurry',
      width: 768,
      height: 512,
      seed: 1234567,
      rand_device: 'cpu',
      cfg_scale: 7.5,
      steps: 30,
      scheduler: 'dpmpp_2m_k',
      model: { key: 'abc', hash: 'blake3:1234', name: 'Deliberate v2', base: 'sd-1', type: 'main' },
      app_version: '4.2.0',
    });
    expect(parseInvokeAI(json)).toEqual({
      prompt: 'a lighthouse at dusk',
      negative: 'blurry',
      width: 768,
      height: 512,
      seed: 1234567,
      cfg: 7.5,
      steps: 30,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      model: 'Deliberate v2',
      modelHash: 'blake3:1234',
      extras: { generation_mode: 'txt2img', app_version: '4.2.0', rand_device: 'cpu' },
      source: 'invokeai',
    });
  });

  it('reads legacy sd-metadata', () => {
    const json = JSON.stringify({
      model: 'stable diffusion',
      model_weights: 'stable-diffusion-1.5',
      model_hash: 'cc6cb271',
      app_version: '2.2.5',
      image: { prompt: [{ prompt: 'a fantasy castle', weight: 1 }], steps: 50, cfg_scale: 7.5, height: 512, width: 512, seed: 42, sampler: 'k_lms' },
    });
    const p = parseInvokeAI(json);
    expect(p).toMatchObject({ prompt: 'a fantasy castle', steps: 50, seed: 42, sampler: 'LMS', model: 'stable-diffusion-1.5', modelHash: 'cc6cb271' });
  });

  it('rejects malformed JSON', () => {
    expect(() => parseInvokeAI('nope')).toThrow(/InvokeAI metadata is not valid JSON/);
    expect(() => parseInvokeAI('"str"')).toThrow(/JSON object/);
  });
});

describe('readGenerationParams on PNG files', () => {
  it('finds ours, ComfyUI and InvokeAI chunks, or none', async () => {
    const png = new Uint8Array(await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } }).png().toBuffer());
    expect(readGenerationParams(png)).toBeNull();
    const ours = writePngText(png, { parameters: 'a cat\nSteps: 4, Sampler: Euler, CFG scale: 3, Seed: 9, Size: 2x2' });
    expect(readGenerationParams(ours)).toMatchObject({ prompt: 'a cat', steps: 4, sampler: 'Euler', seed: 9, width: 2, source: 'a1111' });
    const comfy = writePngText(png, { prompt: COMFY_PROMPT, workflow: COMFY_WORKFLOW });
    expect(readGenerationParams(comfy)).toMatchObject({ prompt: 'beautiful scenery, glass bottle', source: 'comfyui' });
    const invoke = writePngText(png, { invokeai_metadata: JSON.stringify({ positive_prompt: 'p', steps: 3 }) });
    expect(readGenerationParams(invoke)).toMatchObject({ prompt: 'p', steps: 3, source: 'invokeai' });
  });
});

describe('randomised metadata from other tools', () => {
  it('never fails with anything but a GenerationParamsError', () => {
    const rng = new Rng(2024);
    const r = () => rng.uniform(1)[0]!;
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const junk = (): unknown =>
      pick<() => unknown>([
        () => null,
        () => 'text',
        () => 42,
        () => -1.5,
        () => true,
        () => [],
        () => ({}),
        () => [pick(['3', '4', '5', '6', '99', 3]), 0],
        () => [['6', 0], 1],
        () => ({ inputs: null, class_type: 5 }),
        () => Array(3).fill('x'),
      ])();
    const mutate = (v: unknown, depth = 0): unknown => {
      if (depth > 4 || r() < 0.15) return junk();
      if (Array.isArray(v)) return v.map((x) => (r() < 0.3 ? mutate(x, depth + 1) : x));
      if (v && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) if (r() > 0.05) o[k] = r() < 0.3 ? mutate(x, depth + 1) : x;
        return o;
      }
      return v;
    };
    const sources = [JSON.parse(COMFY_PROMPT), JSON.parse(COMFY_WORKFLOW)];
    const invoke = { positive_prompt: 'p', negative_prompt: 'n', seed: 1, steps: 2, scheduler: 'euler_k', model: { name: 'm', hash: 'h' }, image: { prompt: [{ prompt: 'q' }] } };
    let parsed = 0;
    for (let i = 0; i < 1500; i++) {
      const which = i % 3;
      const text = JSON.stringify(mutate(which === 2 ? invoke : sources[which]));
      try {
        const p = which === 0 ? parseComfyUI(text) : which === 1 ? parseComfyUI(undefined, text) : parseInvokeAI(text);
        expect(typeof p.prompt).toBe('string');
        expect(typeof p.negative).toBe('string');
        parsed++;
      } catch (e) {
        if (!(e instanceof GenerationParamsError)) throw new Error(`case ${i} (${text.slice(0, 300)}): ${(e as Error).stack}`);
      }
    }
    expect(parsed).toBeGreaterThan(500);
  });

  it('never throws on any infotext', () => {
    const rng = new Rng(5);
    const alphabet = ['a', ' ', ',', ':', '"', '\\', '\n', 'Steps', 'Size', 'x', '1', '512x512', 'Negative prompt:', 'Sampler'];
    for (let i = 0; i < 2000; i++) {
      const u = rng.uniform(30);
      const text = Array.from(u, (v) => alphabet[Math.floor(v * alphabet.length)]).join('');
      const p = parseParameters(text);
      expect(typeof p.prompt).toBe('string');
    }
  });
});
