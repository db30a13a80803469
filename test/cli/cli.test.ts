// The `ldm` command line end to end: a tiny model package on disk, real PNGs out, their parameters
// chunk parsed back; in-process through runCli, and once as a real process for exit codes.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../electron/cli/main.ts';
import { readPngText } from '../../electron/engine/io/png-metadata.ts';
import { parseParameters } from '../../electron/engine/io/generation-params.ts';
import { saveTinyPackage, TINY_UNET } from '../engine/pipelines/tiny-model.ts';
import { kohyaName } from '../../electron/engine/finetune/lora.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { float32 } from '../../electron/engine/tensor.ts';

let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-cli-'));
  modelDir = path.join(root, 'models', 'tiny');
  await saveTinyPackage(modelDir);
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWith({}, ...argv);
}

async function cliWith(
  o: { signal?: AbortSignal; onStdout?: (s: string) => void },
  ...argv: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (s: string) => ((stdout += s), o.onStdout?.(s)) },
    stderr: { write: (s: string) => (stderr += s) },
    signal: o.signal,
  });
  return { code, stdout, stderr };
}

describe('ldm generate', () => {
  it('writes a PNG whose parameters chunk parses back to what was asked', async () => {
    const out = path.join(root, 'heart.png');
    const r = await cli('generate', 'a red heart', '--negative', 'blue square', '--seed', '7', '--steps', '3', '--sampler', 'euler_a',
      '--cfg', '4.5', '--size', '32x32', '--model', modelDir, '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    // Not a terminal: the memory estimate, then one progress line per finished image instead of a redrawn bar.
    expect(r.stderr).toMatch(/^32x32 txt2img: needs about [\d.]+ GiB of memory \([\d.]+ GiB free of [\d.]+ GiB\)\nimage 1\/1: 3 steps, 3\/3 done/);
    const png = await fsp.readFile(out);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 32, 32]);
    const p = parseParameters(readPngText(png).get('parameters')!);
    expect(p).toMatchObject({ prompt: 'a red heart', negative: 'blue square', steps: 3, sampler: 'Euler a', cfg: 4.5, seed: 7, width: 32, height: 32, model: 'tiny' });
    // The provider that ran it (with ' fp16' on GPU providers, whose graphs are the float16 variant).
    expect(p.extras).toMatchObject({ Provider: 'cpu' });
  });

  it('--n writes one file per seed, and any one of them regenerates alone byte for byte', async () => {
    const out = path.join(root, 'batch.png');
    const r = await cli('generate', 'a cat', '--seed', '20', '--n', '2', '--model', modelDir, '--out', out, '--quiet');
    expect(r.code).toBe(0);
    const files = r.stdout.trim().split('\n');
    expect(files.map((f) => path.basename(f))).toEqual(['batch-20.png', 'batch-21.png']);
    const single = path.join(root, 'single.png');
    expect((await cli('generate', 'a cat', '--seed', '21', '--model', modelDir, '--out', single)).code).toBe(0);
    expect((await fsp.readFile(single)).equals(await fsp.readFile(files[1]!))).toBe(true);
  });

  it('writes each image as it is made: cancelling keeps the finished ones and exits 130', async () => {
    const ac = new AbortController();
    const out = path.join(root, 'cancel.png');
    const r = await cliWith({ signal: ac.signal, onStdout: () => ac.abort() },
      'generate', 'a cat', '--seed', '30', '--n', '3', '--model', modelDir, '--out', out);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/ldm: generation was cancelled/);
    expect(r.stdout.trim().split('\n').map((f) => path.basename(f))).toEqual(['cancel-30.png']);
    await expect(fsp.access(path.join(root, 'cancel-30.png'))).resolves.toBeUndefined();
    await expect(fsp.access(path.join(root, 'cancel-31.png'))).rejects.toThrow();
  });

  it('inpaint and img2img read pictures and keep the unmasked pixels', async () => {
    const init = path.join(root, 'init.png');
    const mask = path.join(root, 'mask.png');
    const pixels = Buffer.alloc(32 * 32 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 256;
    await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(init);
    const m = Buffer.alloc(32 * 32 * 3);
    for (let y = 8; y < 24; y++) m.fill(255, 3 * (y * 32 + 8), 3 * (y * 32 + 24));
    await sharp(m, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(mask);
    const out = path.join(root, 'inpainted.png');
    const r = await cli('inpaint', 'a heart', '--image', init, '--mask', mask, '--seed', '3', '--model', modelDir, '--out', out);
    expect(r.code).toBe(0);
    const got = await sharp(out).raw().toBuffer();
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        if (x >= 8 && x < 24 && y >= 8 && y < 24) continue;
        const p = 3 * (y * 32 + x);
        expect([...got.subarray(p, p + 3)]).toEqual([...pixels.subarray(p, p + 3)]);
      }
    }
    const p = parseParameters(readPngText(await fsp.readFile(out)).get('parameters')!);
    expect(p.strength).toBe(1);
    const wide = path.join(root, 'wide.png');
    const op = await cli('outpaint', 'a heart', '--image', init, '--left', '8', '--right', '8', '--seed', '3', '--model', modelDir, '--out', wide);
    expect(op.code).toBe(0);
    const widened = await sharp(wide).raw().toBuffer({ resolveWithObject: true });
    expect([widened.info.width, widened.info.height]).toEqual([48, 32]);
    for (let y = 0; y < 32; y++) {
      const row = widened.data.subarray(3 * (y * 48 + 8), 3 * (y * 48 + 40));
      expect(row.equals(pixels.subarray(3 * y * 32, 3 * (y + 1) * 32))).toBe(true);
    }
    const i2i = await cli('img2img', 'a heart', '--image', init, '--strength', '0.5', '--seed', '3', '--model', modelDir, '--out', path.join(root, 'i2i.png'));
    expect(i2i.code).toBe(0);
  });
});

describe('ldm --lora', () => {
  it('merges a LoRA at the given strength: the picture changes and its hash is in the metadata', async () => {
    const layer = 'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj';
    const mod = kohyaName(layer, TINY_UNET);
    const rank = 2;
    const file = path.join(root, 'shiny.safetensors');
    await saveSafetensors(file, {
      [`${mod}.lora_down.weight`]: float32([rank, 16], Array.from({ length: rank * 16 }, (_, i) => Math.sin(i))),
      [`${mod}.lora_up.weight`]: float32([16, rank], Array.from({ length: 16 * rank }, (_, i) => Math.cos(i))),
      [`${mod}.alpha`]: float32([], [rank]),
    });
    const plain = path.join(root, 'plain.png');
    const withLora = path.join(root, 'lora.png');
    expect((await cli('generate', 'a red heart', '--seed', '4', '--model', modelDir, '--out', plain)).code).toBe(0);
    const r = await cli('generate', 'a red heart', '--seed', '4', '--model', modelDir, '--out', withLora, '--lora', `${file}:0.8`);
    expect(r.code).toBe(0);
    const [a, b] = await Promise.all([sharp(plain).raw().toBuffer(), sharp(withLora).raw().toBuffer()]);
    expect(a.equals(b)).toBe(false);
    const p = parseParameters(readPngText(await fsp.readFile(withLora)).get('parameters')!);
    expect(p.loraHashes).toEqual({ shiny: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const bad = await cli('generate', 'x', '--model', modelDir, '--lora', path.join(root, 'plain.png'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lora .*plain\.png: give a \.safetensors file/);
  });
});

describe('ldm --data', () => {
  it('records each image into a studio data folder: history row, gallery PNG with parameters, mask', async () => {
    const data = path.join(root, 'data');
    const init = path.join(root, 'd-init.png');
    const mask = path.join(root, 'd-mask.png');
    await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(init);
    const m = Buffer.alloc(32 * 32 * 3);
    m.fill(255, 0, 3 * 32 * 8);
    await sharp(m, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(mask);
    const gen = await cli('generate', 'a red heart', '--seed', '11', '--n', '2', '--model', modelDir, '--out', path.join(root, 'rec.png'), '--data', data);
    expect(gen.code).toBe(0);
    const inp = await cli('inpaint', 'a cat', '--image', init, '--mask', mask, '--seed', '2', '--model', modelDir, '--out', path.join(root, 'rec-i.png'), '--data', data);
    expect(inp.code).toBe(0);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path.join(data, 'history.db'), { readonly: true });
    const rows = db.prepare('SELECT kind, prompt, params, model_name, image_path, mask_path FROM generations ORDER BY created_at').all() as {
      kind: string; prompt: string; params: string; model_name: string; image_path: string; mask_path: string | null;
    }[];
    db.close();
    expect(rows.map((r) => [r.kind, r.prompt, JSON.parse(r.params).seed, r.model_name])).toEqual([
      ['txt2img', 'a red heart', 11, 'tiny'],
      ['txt2img', 'a red heart', 12, 'tiny'],
      ['inpaint', 'a cat', 2, 'tiny'],
    ]);
    expect(rows[2]!.mask_path).not.toBeNull();
    const stored = await fsp.readFile(path.join(data, rows[0]!.image_path));
    expect(readPngText(stored).get('parameters')).toMatch(/Seed: 11/);
  });
});

describe('ldm errors and listing', () => {
  it('bad input: a one-line reason and a non-zero exit', async () => {
    const cases: [string[], RegExp, number][] = [
      [['generate'], /needs a prompt/, 2],
      [['generate', 'x', '--steps', 'many', '--model', 'm'], /--steps must be a number/, 2],
      [['generate', 'x', '--model', '/nonexistent/model'], /no such file or folder/, 2],
      [['generate', 'x', '--model', '', '--size', '30x30'], /needs a model file, folder or name|multiple/, 2],
      [['frobnicate'], /unknown command 'frobnicate'/, 2],
      [['generate', 'x', '--model', 'sd-v1-5.ckpt'], /pickle checkpoints are refused/, 2],
      [['generate', 'x', '--colour', 'red'], /colour/, 2],
      [['img2img', 'x', '--image', 'a.png', '--size', '64'], /the size of --image/, 2],
      [['generate', 'x', '--out', 'x.jpg'], /--out must name a \.png file/, 2],
    ];
    for (const [argv, re, code] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(code);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith('ldm: ')).toBe(true);
    }
    const size = await cli('generate', 'x', '--model', modelDir, '--size', '30x30', '--out', path.join(root, 'bad.png'));
    expect(size.code).toBe(1);
    expect(size.stderr).toMatch(/multiple of 4/);
    const mask = await cli('inpaint', 'x', '--model', modelDir, '--image', path.join(root, 'missing.png'), '--mask', path.join(root, 'missing-mask.png'));
    expect(mask.code).toBe(1);
    expect(mask.stderr).toMatch(/cannot read .*missing-mask\.png: no such file/);
  });

  it('help lists the commands and each command’s options', async () => {
    const all = await cli('help');
    expect(all.code).toBe(0);
    for (const c of ['generate', 'img2img', 'inpaint', 'outpaint', 'models']) expect(all.stdout).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
    const gen = await cli('generate', '--help');
    expect(gen.code).toBe(0);
    expect(gen.stdout).toMatch(/--sampler NAME .*dpmpp_2m.*euler_a.*unipc/);
    expect(gen.stdout).toMatch(/--schedule TYPE .*karras/);
    expect(gen.stdout).toMatch(/-o, --out FILE/);
    expect((await cli()).code).toBe(2);
  });

  it('says clearly when no default model is installed, and lists installed packages', async () => {
    const empty = path.join(root, 'empty');
    await fsp.mkdir(empty);
    process.env.LDM_MODELS_DIR = empty;
    try {
      const r = await cli('generate', 'a heart', '--out', path.join(root, 'x.png'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no default model is installed/);
      expect((await cli('models')).stdout).toMatch(/no model packages/);
      const data = path.join(root, 'data-models');
      await fsp.cp(modelDir, path.join(data, 'models', 'mine'), { recursive: true });
      const both = (await cli('models', '--data', data)).stdout.trim().split('\n');
      expect(both[0]).toMatch(/^no model packages in .*empty$/);
      expect(both[1]).toMatch(/^tiny\s+txt2img.*data-models\/models\/mine$/);
      process.env.LDM_MODELS_DIR = path.dirname(modelDir);
      const list = await cli('models');
      expect(list.stdout).toMatch(/^tiny\s+txt2img\s+f=4\s+32x32, ddim 3 steps.*\(default\)$/m);
      const byDefault = await cli('generate', 'a heart', '--seed', '1', '--out', path.join(root, 'default.png'));
      expect(byDefault.code).toBe(0);
    } finally {
      delete process.env.LDM_MODELS_DIR;
    }
  });

  it('runs as a real process: npm run cli equivalent, exit codes and stdout', async () => {
    const run = promisify(execFile);
    const tsx = path.resolve('node_modules/.bin/tsx');
    const out = path.join(root, 'proc.png');
    const ok = await run(tsx, ['electron/cli/main.ts', 'generate', 'a red heart', '--seed', '5', '--model', modelDir, '--out', out]);
    expect(ok.stdout.trim()).toBe(out);
    const bad = await run(tsx, ['bin/ldm.js', 'generate', 'x', '--seed=-3', '--model', modelDir]).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ldm: seed must be a whole number/m);
  });
});
