// Managing installed models: rename, delete (imported copies to the trash, the user's original untouched,
// shipped models refused), details (files, model card, licence, LoRA
// trigger words), and a plain sentence for files that are not models.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { openDatabase } from '../../electron/services/db.ts';
import { ensureDataDir } from '../../electron/services/files.ts';
import { loraFacts } from '../../electron/services/model-details.ts';
import { ModelRegistry } from '../../electron/services/models.ts';
import { useTestStudio, writeTinyPackage } from './helpers.ts';

async function writeLora(file: string, metadata: Record<string, string>): Promise<void> {
  await saveSafetensors(
    file,
    {
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': tensor('float32', [4, 16], new Float32Array(64)),
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': tensor('float32', [16, 4], new Float32Array(64)),
    },
    metadata,
  );
}

describe('managing models', () => {
  const t = useTestStudio();

  it('renames a model; an empty name is refused', async () => {
    const m = await t.studio.handlers['models.rename']({ id: 'embedded:probe', name: '  Probe model ' });
    expect(m.name).toBe('Probe model');
    expect((await t.studio.handlers['models.get']({ id: 'embedded:probe' })).name).toBe('Probe model');
    await expect(t.studio.handlers['models.rename']({ id: 'embedded:probe', name: ' ' })).rejects.toThrow(/needs a name/);
  });

  it('deletes an imported copy into the trash, leaves the original, refuses the shipped model', async () => {
    const original = join(t.tmp.dir, 'ink.safetensors');
    await writeLora(original, {});
    const l = await t.studio.handlers['models.import']({ path: original });
    const { trashedTo } = await t.studio.handlers['models.delete']({ id: l.id });
    expect(trashedTo).toBe(join(t.dataDir, 'trash', 'models', `${l.id}.safetensors`));
    expect(existsSync(trashedTo!)).toBe(true);
    expect(existsSync(l.path)).toBe(false);
    expect(existsSync(original)).toBe(true);
    expect((await t.studio.handlers['models.list']({})).map((m) => m.id)).toEqual(['embedded:probe']);
    await expect(t.studio.handlers['models.delete']({ id: 'embedded:probe' })).rejects.toThrow(/ships with the app/);
  });

  it('never touches a registered file outside the data folder', async () => {
    const paths = ensureDataDir(join(t.tmp.dir, 'other-data'));
    const db = openDatabase(paths.db);
    try {
      const registry = new ModelRegistry(db, paths);
      const outside = join(t.tmp.dir, 'mine.safetensors');
      await writeLora(outside, {});
      const m = await registry.registerTrained(outside, 'mine', null);
      expect(await registry.delete(m.id)).toBeNull();
      expect(existsSync(outside)).toBe(true);
      expect(registry.list()).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('shows a package\'s files, model card and licence text', async () => {
    const pkg = join(t.tmp.dir, 'carded');
    await writeTinyPackage(pkg);
    writeFileSync(join(pkg, 'README.md'), '# Carded\nDraws tiny squares.\n');
    writeFileSync(join(pkg, 'LICENSE'), 'Apache License, Version 2.0\n');
    const m = await t.studio.handlers['models.import']({ path: pkg });
    const d = await t.studio.handlers['models.details']({ id: m.id });
    expect(d.card).toEqual({ file: 'README.md', text: '# Carded\nDraws tiny squares.\n' });
    expect(d.licenceText?.text).toMatch(/^Apache License/);
    expect(d.files.map((f) => f.path)).toContain('model.json');
    expect(d.fileCount).toBe(d.files.length);
    expect(d.files[0]!.bytes).toBeGreaterThanOrEqual(d.files.at(-1)!.bytes);
    expect(d.triggerWords).toEqual([]);
  });

  it('reads a LoRA\'s trigger words from our trigger and kohya\'s tag frequencies', async () => {
    const file = join(t.tmp.dir, 'fox.safetensors');
    await writeLora(file, {
      ss_output_name: 'fox_style',
      ss_sd_model_name: 'probe',
      ss_tag_frequency: JSON.stringify({ '10_fox': { fox: 10, 'red fur': 4, 'zzfox': 4 }, extra: { 'red fur': 3 } }),
      'ldm_studio.dataset': JSON.stringify({ images: 10, rejected: 0, sha256: 'x', trigger: 'zzfox' }),
    });
    const l = await t.studio.handlers['models.import']({ path: file });
    const d = await t.studio.handlers['models.details']({ id: l.id });
    expect(d).toMatchObject({ triggerWords: ['zzfox', 'fox', 'red fur'], outputName: 'fox_style', trainedOn: 'probe', card: null, fileCount: 1 });
    // Bad or missing metadata gives nothing rather than an error.
    expect(loraFacts({ ss_tag_frequency: '{not json' })).toEqual({ triggerWords: [], outputName: null, trainedOn: null });
  });

  it('says in plain words why a file is not a model, with the detail beside it', async () => {
    const bad = join(t.tmp.dir, 'broken.safetensors');
    writeFileSync(bad, Buffer.from('this is not a safetensors header'));
    const v = await t.studio.handlers['models.validate']({ path: bad });
    expect(v.ok).toBe(false);
    expect(v.summary).toBe('not a model file: its header is not valid safetensors');
    expect(v.errors[0]).toMatch(/^broken\.safetensors is not a valid safetensors file: /);
    mkdirSync(join(t.tmp.dir, 'empty-folder'));
    expect((await t.studio.handlers['models.validate']({ path: join(t.tmp.dir, 'empty-folder') })).summary).toMatch(/^not a model folder/);
    expect(readFileSync(bad, 'utf8')).toBe('this is not a safetensors header');
  });
});
