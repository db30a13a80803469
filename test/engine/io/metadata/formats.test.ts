// Format details beyond the fixtures: A1111's exact text, prompt-line rules, ComfyUI graphs of other
// shapes (SamplerCustomAdvanced, ControlNet, UI workflows with two passes), Dream switches, NovelAI V4,
// Fooocus' A1111 scheme, and the 200 kB PNG that used to block the studio.
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { formatParameters, parseComfyUI, parseParameters } from '../../../../electron/engine/io/generation-params.ts';
import { readImageParameters } from '../../../../electron/engine/io/metadata/index.ts';
import { parseDream, splitBracketNegative } from '../../../../electron/engine/io/metadata/invokeai.ts';
import { parseNovelAI } from '../../../../electron/engine/io/metadata/novelai.ts';
import { paramsFromTextChunks } from '../../../../electron/engine/io/metadata/text-chunks.ts';
import { writePngText } from '../../../../electron/engine/io/png-metadata.ts';

describe('A1111 text', () => {
  it('writing the fields read from an A1111 picture gives back its exact text', async () => {
    const png = readFileSync(new URL('../../../fixtures/metadata/a1111.png', import.meta.url));
    const r = await readImageParameters(png);
    const { source: _s, ...params } = r.params!;
    const original = (await sharp(png).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text;
    expect(original).toBeDefined();
    expect(formatParameters(params)).toBe(original);
  });

  it('reads prompts as A1111 does: lines trimmed, the negative prompt running to the parameter line', () => {
    expect(parseParameters('  a cat  \n  on a mat\nNegative prompt:   dull\n  grey  \nSteps: 3, Seed: 4, Size: 8x8')).toMatchObject({
      prompt: 'a cat\non a mat',
      negative: 'dull\ngrey',
      steps: 3,
    });
    // No parameter line at all, and a prompt that is only a parameter line.
    expect(parseParameters('a cat\nNegative prompt: dull')).toMatchObject({ prompt: 'a cat', negative: 'dull', extras: {} });
    expect(parseParameters('Steps: 3, Seed: 4, Size: 8x8')).toMatchObject({ prompt: '', negative: '', steps: 3, width: 8 });
    // A quoted value that is not valid JSON stays as written; an unknown WxH key stays in extras as text.
    expect(parseParameters('p\nSteps: 1, Seed: 2, Size: 3x4, Note: "bad \\q", Hires resize: 1024x768').extras).toEqual({ Note: '"bad \\q"' });
    expect(parseParameters('p\nSteps: 1, Seed: 2, Size: 3x4, Hires resize: 1024x768').hiresResize).toEqual({ width: 1024, height: 768 });
  });
});

describe('ComfyUI graphs', () => {
  it('SamplerCustomAdvanced: settings in its guider, sampler, sigmas and noise nodes', () => {
    const g = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'flux.safetensors' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a neon city', clip: ['1', 1] } },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'fog', clip: ['1', 1] } },
      '4': { class_type: 'CFGGuider', inputs: { cfg: 3.5, model: ['1', 0], positive: ['2', 0], negative: ['3', 0] } },
      '5': { class_type: 'KSamplerSelect', inputs: { sampler_name: 'dpmpp_2m_sde' } },
      '6': { class_type: 'BasicScheduler', inputs: { scheduler: 'sgm_uniform', steps: 24, denoise: 1, model: ['1', 0] } },
      '7': { class_type: 'RandomNoise', inputs: { noise_seed: 777 } },
      '8': { class_type: 'EmptySD3LatentImage', inputs: { width: 1024, height: 576, batch_size: 1 } },
      '9': { class_type: 'SamplerCustomAdvanced', inputs: { noise: ['7', 0], guider: ['4', 0], sampler: ['5', 0], sigmas: ['6', 0], latent_image: ['8', 0] } },
    };
    expect(parseComfyUI(JSON.stringify(g))).toEqual({
      prompt: 'a neon city', negative: 'fog', seed: 777, steps: 24, cfg: 3.5, sampler: 'DPM++ 2M SDE', scheduleType: 'SGM Uniform',
      model: 'flux.safetensors', width: 1024, height: 576, extras: {}, source: 'comfyui',
    });
  });

  it('ControlNet between the encoders and the sampler: positive and negative by output slot', () => {
    const g = {
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a dancer' } },
      '7': { class_type: 'CLIPTextEncode', inputs: { text: 'extra limbs' } },
      '10': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: ['6', 0], negative: ['7', 0], strength: 0.8 } },
      '5': { class_type: 'EmptyLatentImage', inputs: { width: ['11', 0], height: 640 } },
      '11': { class_type: 'PrimitiveNode', inputs: { value: 448 } },
      '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 9, cfg: 5, sampler_name: 'uni_pc', scheduler: 'exponential', positive: ['10', 0], negative: ['10', 1], latent_image: ['5', 0] } },
    };
    expect(parseComfyUI(JSON.stringify(g))).toMatchObject({ prompt: 'a dancer', negative: 'extra limbs', width: 448, height: 640, sampler: 'UniPC', scheduleType: 'Exponential' });
  });

  it('a UI workflow with two passes: the final one, its size through the upscale, the first in extras', () => {
    const wf = {
      nodes: [
        { id: 1, type: 'KSampler', inputs: [{ name: 'positive', link: 1 }, { name: 'negative', link: 2 }, { name: 'latent_image', link: 3 }], widgets_values: [5, 'fixed', 20, 7, 'euler', 'normal', 1] },
        { id: 2, type: 'KSampler', inputs: [{ name: 'positive', link: 1 }, { name: 'negative', link: 2 }, { name: 'latent_image', link: 5 }], widgets_values: [6, 12, 6, 'dpmpp_2m', 'karras', 0.55] },
        { id: 3, type: 'CLIPTextEncode', widgets_values: ['a harbour'] },
        { id: 4, type: 'CLIPTextEncode', widgets_values: ['rain'] },
        { id: 5, type: 'EmptyLatentImage', widgets_values: [512, 384, 1] },
        { id: 6, type: 'LatentUpscale', inputs: [{ name: 'samples', link: 4 }], widgets_values: ['bislerp', 1024, 0, 'disabled'] },
        { id: 7, type: 'SaveImage', inputs: [{ name: 'images', link: 6 }] },
      ],
      links: [[1, 3, 0, 1, 1, 'CONDITIONING'], [2, 4, 0, 1, 2, 'CONDITIONING'], [3, 5, 0, 1, 3, 'LATENT'], [4, 1, 0, 6, 0, 'LATENT'], [5, 6, 0, 2, 3, 'LATENT'], [6, 2, 0, 7, 0, 'IMAGE']],
    };
    expect(parseComfyUI(undefined, JSON.stringify(wf))).toEqual({
      prompt: 'a harbour', negative: 'rain', seed: 6, steps: 12, cfg: 6, strength: 0.55, sampler: 'DPM++ 2M', scheduleType: 'Karras',
      width: 1024, height: 768,
      extras: { 'First pass': 'steps 20, sampler Euler, schedule Normal, CFG scale 7, seed 5, size 512x384' },
      source: 'comfyui',
    });
  });
});

describe('ComfyUI WebP', () => {
  it('reads the prompt and workflow ComfyUI\'s WebP saver writes into EXIF Model and Make', async () => {
    const prompt = { '3': { class_type: 'KSampler', inputs: { seed: 4, steps: 6, cfg: 2, sampler_name: 'lcm', scheduler: 'simple', positive: ['6', 0], latent_image: ['5', 0] } }, '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a quick sketch' } }, '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512 } } };
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123' } })
      .webp({ lossless: true })
      .withExif({ IFD0: { Model: `prompt:${JSON.stringify(prompt)}`, Make: 'workflow:{"nodes": []}' } })
      .toBuffer();
    expect(await readImageParameters(webp)).toMatchObject({
      format: 'webp', source: 'comfyui', location: 'EXIF "prompt"', warnings: [],
      params: { prompt: 'a quick sketch', seed: 4, steps: 6, sampler: 'LCM', scheduleType: 'Simple', width: 512 },
    });
  });
});

describe('InvokeAI Dream and brackets', () => {
  it('reads the prompt, switches and the [negative] parts as InvokeAI 2.x does', () => {
    expect(splitBracketNegative('a [b] c [d e]')).toEqual({ prompt: 'a c', negative: 'b d e' });
    expect(splitBracketNegative('no negative here')).toEqual({ prompt: 'no negative here', negative: '' });
    expect(parseDream('a castle [fog] -s 30 -S 7 -W 640 -H 448 -C 9 -A k_euler_a -f 0.6 --seamless -U 2 0.8')).toEqual({
      prompt: 'a castle', negative: 'fog', steps: 30, seed: 7, width: 640, height: 448, cfg: 9, sampler: 'Euler a', strength: 0.6,
      extras: { seamless: 'true', U: '2 0.8' }, source: 'invokeai',
    });
    expect(parseDream('"a \\"quoted\\" word [x]" -s 5').prompt).toBe('a "quoted" word');
  });
});

describe('NovelAI and Fooocus schemes', () => {
  it('NovelAI V4: the prompt in v4_prompt when Description is missing; img2img strength', () => {
    const t = new Map([
      ['Software', 'NovelAI'],
      ['Source', 'NovelAI Diffusion V4 F6302A9D'],
      ['Comment', JSON.stringify({ v4_prompt: { caption: { base_caption: 'a fox', char_captions: [] } }, v4_negative_prompt: { caption: { base_caption: 'blurry' } }, steps: 23, scale: 6, seed: 9, width: 832, height: 1216, sampler: 'k_dpmpp_2m', noise_schedule: 'native', strength: 0.4, request_type: 'Img2ImgRequest' })],
    ]);
    expect(parseNovelAI(t)).toMatchObject({ prompt: 'a fox', negative: 'blurry', steps: 23, cfg: 6, sampler: 'DPM++ 2M', scheduleType: 'native', strength: 0.4, width: 832 });
  });

  it("Fooocus' a1111 scheme is A1111 text, noted in extras", () => {
    const found = paramsFromTextChunks(new Map([['parameters', 'a fox\nSteps: 30, Sampler: DPM++ 2M SDE, Seed: 1, Size: 1152x896'], ['fooocus_scheme', 'a1111']]));
    expect(found).toMatchObject({ source: 'a1111', params: { prompt: 'a fox', steps: 30, extras: { 'Metadata scheme': 'Fooocus a1111' } } });
  });
});

describe('the 200 kB PNG that blocked the studio for 30–48 s', () => {
  it('reads a PNG whose parameters line is 200 kB of spaces (and one of 1 MB) at once', { timeout: 30_000 }, async () => {
    const png = new Uint8Array(await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).png().toBuffer());
    for (const n of [200_000, 1 << 20]) {
      const file = writePngText(png, { parameters: 'a cat\nSteps: 20, ' + ' '.repeat(n) + 'x' });
      const t0 = performance.now();
      const r = await readImageParameters(file);
      const ms = performance.now() - t0;
      expect(r.params?.prompt).toBe('a cat\nSteps: 20, ' + ' '.repeat(n) + 'x'); // fewer than 3 pairs: all prompt, as A1111 reads it
      expect(ms, `${n} spaces: ${ms.toFixed(0)} ms`).toBeLessThan(20_000);
    }
  });
});
