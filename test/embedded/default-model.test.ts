// The embedded model as a user meets it: shipped in resources/models, loaded with no configuration,
// deterministic per seed, and steered by the prompt (colour words move the colour of the picture).
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParameters } from '../../electron/engine/io/generation-params.ts';
import { validateModelPackage } from '../../electron/engine/io/model-package.ts';
import { readPngText } from '../../electron/engine/io/png-metadata.ts';
import { loadModel, type LoadedModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';

const MODEL_DIR = path.resolve('resources/models/emoji-ldm-32');
const SEEDS = 4;

let model: LoadedModel;
let root: string;

beforeAll(async () => {
  model = await loadModel(MODEL_DIR);
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-embedded-'));
});
afterAll(async () => {
  await model?.release();
  await fsp.rm(root, { recursive: true, force: true });
});

function withoutModelsOverride(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LDM_MODELS_DIR;
  return env;
}

/** Mean of each channel over the pixels that are not near-white background, in 0…255. */
function foregroundMeans(img: RgbImage): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let p = 0; p < img.width * img.height; p++) {
    const [r, g, b] = [img.data[3 * p]!, img.data[3 * p + 1]!, img.data[3 * p + 2]!];
    if (r > 235 && g > 235 && b > 235) continue;
    sum[0] += r;
    sum[1] += g;
    sum[2] += b;
    n++;
  }
  return n === 0 ? [255, 255, 255] : [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

async function meanColour(prompt: string): Promise<[number, number, number]> {
  const images = await txt2img(model, { prompt, seed: 100, batchCount: SEEDS, steps: 20 });
  const acc = [0, 0, 0];
  for (const g of images) foregroundMeans(g.image).forEach((v, i) => (acc[i] += v / images.length));
  return acc as [number, number, number];
}

describe('embedded default model', () => {
  it('is a valid model package with its licence, tokenizer and scale factor', async () => {
    expect(existsSync(path.join(MODEL_DIR, 'README.md'))).toBe(true);
    const pkg = await validateModelPackage(MODEL_DIR);
    expect(pkg.manifest.kind).toBe('txt2img');
    expect(pkg.manifest.license).toBe('Apache-2.0');
    expect(pkg.manifest.tokenizer?.type).toBe('word');
    expect(pkg.manifest.latentScaleFactor).toBeGreaterThan(0);
    const bytes = pkg.manifest.files.reduce((s, f) => s + f.bytes, 0);
    expect(bytes).toBeLessThan(40 * 1024 * 1024);
  });

  it('generates the same picture for the same seed and a different one for another seed', async () => {
    const [a] = await txt2img(model, { prompt: 'red heart', seed: 1, steps: 10 });
    const [b] = await txt2img(model, { prompt: 'red heart', seed: 1, steps: 10 });
    const [c] = await txt2img(model, { prompt: 'red heart', seed: 2, steps: 10 });
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    expect(Buffer.from(a!.image.data).equals(Buffer.from(c!.image.data))).toBe(false);
  });

  it('colour words steer the colour of the picture', async () => {
    const red = await meanColour('red heart, heart');
    const blue = await meanColour('blue heart, heart');
    const green = await meanColour('green heart, heart');
    // Each colour word makes its own channel stand out more than the other prompts do.
    expect(red[0] - red[2]).toBeGreaterThan(blue[0] - blue[2]);
    expect(blue[2] - blue[0]).toBeGreaterThan(red[2] - red[0]);
    expect(green[1] - (green[0] + green[2]) / 2).toBeGreaterThan(red[1] - (red[0] + red[2]) / 2);
  });

  it('the CLI uses it by default: ldm generate "a red heart" --seed 1 writes a PNG with its parameters', async () => {
    const out = path.join(root, 'heart.png');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'electron/cli/main.ts', 'generate', 'a red heart', '--seed', '1', '--out', out, '--quiet'],
      { env: withoutModelsOverride() },
    );
    expect(stdout.trim()).toBe(out);
    const png = await fsp.readFile(out);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    const p = parseParameters(readPngText(png).get('parameters')!);
    expect(p).toMatchObject({ prompt: 'a red heart', seed: 1, model: 'emoji-ldm-32' });
  });
});
