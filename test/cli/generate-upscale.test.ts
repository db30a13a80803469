// `ldm generate … --upscale`: each picture is upscaled ×4 by the installed super-resolution model (found
// as `ldm upscale` finds it) and the larger picture is written, with the generation's parameters and
// A1111's Extras keys; with --data the history keeps both, the upscale's parent being the original.
// Tiny models: a model package that draws 32², a KL-f4 super-resolution release in the paper's layout.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { saveTinyPackage } from '../engine/pipelines/tiny-model.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-generate-upscale-'));
const modelsDir = join(dir, 'models');
const tiny = join(dir, 'tiny');
const saved = process.env.LDM_MODELS_DIR;
beforeAll(async () => {
  await saveTinyPackage(tiny);
  mkdirSync(join(modelsDir, 'emoji-sr'), { recursive: true });
  await writeTinyRelease('sr-kl', null, join(modelsDir, 'emoji-sr', 'emoji-sr.safetensors'));
  await writeTinyRelease('cin', null, join(dir, 'cin.safetensors'));
});
afterEach(() => {
  if (saved === undefined) delete process.env.LDM_MODELS_DIR;
  else process.env.LDM_MODELS_DIR = saved;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

describe('ldm generate --upscale', () => {
  it('writes each picture ×4 with the generation’s parameters plus the upscale’s (the same picture as ldm upscale with its seed); --data keeps the original and its upscale as a child', async () => {
    process.env.LDM_MODELS_DIR = modelsDir;
    const data = join(dir, 'data');
    const out = join(dir, 'big.png');
    const r = await cli('generate', 'a red heart', '--seed', '20', '--n', '2', '--steps', '2', '--model', tiny, '--upscale', '--out', out, '--data', data);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([join(dir, 'big-20.png'), join(dir, 'big-21.png')]);
    expect(r.stderr).toMatch(/upscaled ×4 with emoji-sr: 32×32 → 128×128/);
    for (const f of ['big-20.png', 'big-21.png']) expect(await sharp(join(dir, f)).metadata()).toMatchObject({ width: 128, height: 128 });
    const p = readGenerationParams(readFileSync(join(dir, 'big-20.png')))!;
    // A1111's Extras tab: the original's infotext (its size included), then the postprocessing keys
    expect(p).toMatchObject({ prompt: 'a red heart', seed: 20, steps: 2, width: 32, height: 32, model: 'tiny' });
    expect(p.extras).toMatchObject({ 'Postprocess upscale by': '4', 'Postprocess upscaler': 'emoji-sr' });

    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(data, 'history.db'), { readonly: true });
    const rows = db.prepare('SELECT id, kind, prompt, params, parent_id, image_path FROM generations ORDER BY created_at, rowid').all() as {
      id: string; kind: string; prompt: string; params: string; parent_id: string | null; image_path: string;
    }[];
    db.close();
    expect(rows.map((x) => [x.kind, JSON.parse(x.params).width, JSON.parse(x.params).seed])).toEqual([
      ['txt2img', 32, 20],
      ['upscale', 128, 20],
      ['txt2img', 32, 21],
      ['upscale', 128, 21],
    ]);
    expect([rows[1]!.parent_id, rows[3]!.parent_id]).toEqual([rows[0]!.id, rows[2]!.id]);
    expect(rows[0]!.prompt).toBe('a red heart');
    const stored = readGenerationParams(readFileSync(join(data, rows[1]!.image_path)))!;
    expect(stored.extras).toMatchObject({ 'Postprocess upscale by': '4', 'Postprocess upscaler': 'emoji-sr' });

    // the 32² original through `ldm upscale` with its seed: the same picture
    const again = join(dir, 'again.png');
    const up = await cli('upscale', join(data, rows[0]!.image_path), '--seed', '20', '--out', again, '-q');
    expect(up.stderr).toBe('');
    expect((await pixels(again)).equals(await pixels(join(dir, 'big-20.png')))).toBe(true);
  });

  it('says what is wrong before generating: no super-resolution model installed, or not one', async () => {
    process.env.LDM_MODELS_DIR = join(dir, 'nothing-here');
    const out = join(dir, 'never.png');
    const none = await cli('generate', 'x', '--model', tiny, '--upscale', '--out', out);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no super-resolution model is installed in .*nothing-here; pass --upscale-model FILE/);
    const cin = await cli('generate', 'x', '--model', tiny, '--upscale-model', join(dir, 'cin.safetensors'), '--out', out);
    expect(cin.stderr).toMatch(/--upscale-model .*cin\.safetensors is a class-conditional LDM .*not a super-resolution model/);
    expect((await cli('generate', 'x', '--model', tiny, '--upscale-model', 'no-such-sr', '--out', out)).stderr).toMatch(/--upscale-model no-such-sr: not a model file/);
    expect(existsSync(out)).toBe(false);
    expect((await cli('img2img', 'x', '--image', out, '--upscale')).stderr).toMatch(/upscale/);
  });
});
