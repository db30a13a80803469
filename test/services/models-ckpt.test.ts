// Importing a PyTorch checkpoint: converted once to a .safetensors in the data folder (the original is
// untouched), registered under the original's sha256 with a description of what was converted; a
// hostile checkpoint is refused at validation and import, naming what it asked to run.
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { f32Tensor, torchSave, type Py } from '../engine/io/ckpt-writer.ts';
import { tinyStateDict, writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { useTestStudio } from './helpers.ts';

const FIXTURES = new URL('../fixtures/ckpt/', import.meta.url).pathname;

describe('models registry: PyTorch checkpoints', () => {
  const t = useTestStudio();

  it('validates and imports an LDM .ckpt as safetensors, keeping the original and its hash', async () => {
    const file = join(t.tmp.dir, 'tiny-ldm.ckpt');
    const bytes = torchSave({
      $dict: [
        ['state_dict', { $odict: [['model.diffusion_model.out.2.bias', f32Tensor([1, 2, 3])], ['first_stage_model.decoder.conv_out.bias', f32Tensor([4])]] }],
        ['global_step', 12],
        ['optimizer_states', []],
      ],
    });
    writeFileSync(file, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');

    const v = await t.studio.handlers['models.validate']({ path: file });
    expect(v).toMatchObject({ ok: true, kind: 'ldm', format: 'safetensors', errors: [] });
    expect(v.warnings[0]).toMatch(/converts its 2 tensors to \.safetensors/);

    const m = await t.studio.handlers['models.import']({ path: file });
    expect(m).toMatchObject({ kind: 'ldm', format: 'safetensors', source: 'imported', name: 'tiny-ldm', hash: sha });
    expect(m.path.endsWith('.safetensors')).toBe(true);
    expect(m.description).toMatch(/Converted from tiny-ldm\.ckpt \(sha256 [0-9a-f]{64}\) to safetensors: 2 tensors \(2 F32\) from its 'state_dict'\. Left out optimizer_states/);
    const st = await loadSafetensors(m.path);
    expect([...st.tensors.keys()].sort()).toEqual(['first_stage_model.decoder.conv_out.bias', 'model.diffusion_model.out.2.bias']);
    expect(st.metadata).toMatchObject({ global_step: '12', converted_from: 'tiny-ldm.ckpt', converted_from_sha256: sha });
    expect(readFileSync(file)).toEqual(Buffer.from(bytes)); // the original is untouched
    expect(readdirSync(join(t.dataDir, 'models')).filter((f) => f.endsWith('.ckpt'))).toEqual([]);
  });

  it('refuses a checkpoint that asks to run code, naming it, at validation and import', async () => {
    const file = join(t.tmp.dir, 'evil.ckpt');
    copyFileSync(join(FIXTURES, 'os-system.ckpt'), file);
    const v = await t.studio.handlers['models.validate']({ path: file });
    expect(v.ok).toBe(false);
    expect(v.errors[0]).toMatch(/refused: the file asks to run `posix\.system`/);
    await expect(t.studio.handlers['models.import']({ path: file })).rejects.toThrow(/posix\.system/);
    expect(await t.studio.handlers['models.list']({})).toHaveLength(1);
  });

  it("imports a paper release as a release; one of a kind it cannot run is named and leaves nothing behind", async () => {
    const file = join(t.tmp.dir, 'cin256-v2.ckpt');
    await writeTinyRelease('cin', file, null);
    const v = await t.studio.handlers['models.validate']({ path: file });
    expect(v).toMatchObject({ ok: true, kind: 'ldm', format: 'safetensors' });
    const m = await t.studio.handlers['models.import']({ path: file });
    expect(m.description).toMatch(/^class-conditional LDM \(1001 classes/);

    // the UNet without its first stage: named, refused, nothing left in models/
    const partial = join(t.tmp.dir, 'unet-only.ckpt');
    const entries: [string, Py][] = [...tinyStateDict('cin')]
      .filter(([k]) => !k.startsWith('first_stage_model.'))
      .map(([k, x]) => [k, { $tensor: { storage: { dtype: x.dtype === 'int32' ? 'I32' : 'F32', bytes: new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength) }, shape: [...x.shape] } }]);
    writeFileSync(partial, torchSave({ $dict: [['state_dict', { $odict: entries }]] }, 'archive'));
    const bad = await t.studio.handlers['models.validate']({ path: partial });
    expect(bad.ok).toBe(false);
    expect(bad.errors[0]).toMatch(/unet-only\.ckpt: this looks like one of the paper's releases, but: an LDM UNet .* without its first stage/);
    await expect(t.studio.handlers['models.import']({ path: partial })).rejects.toThrow(/without its first stage/);
    expect(readdirSync(join(t.dataDir, 'models')).filter((n) => !n.startsWith(m.id))).toEqual([]);
  });
});
