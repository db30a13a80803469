// Managing installed models: rename, delete (imported copies to the trash, the user's original untouched,
// shipped models refused), details (files, model card, licence, LoRA
// trigger words), and a plain sentence for files that are not models.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { openDatabase } from '../../electron/services/db.ts';
import { ensureDataDir } from '../../electron/services/files.ts';
import { loraFacts } from '../../electron/services/model-details.ts';
import { ModelRegistry } from '../../electron/services/models.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { probeModels, tempDir, writeTinyPackage } from './helpers.ts';

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
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  let dataDir: string;
  beforeEach(async () => {
    tmp = tempDir();
    dataDir = join(tmp.dir, 'data');
    studio = await createStudio({ dataDir, transport: 'web', embeddedModelsDir: await probeModels(tmp.dir), allowedDirs: [tmp.dir] });
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('renames a model; an empty name is refused', async () => {
    const m = await studio.handlers['models.rename']({ id: 'embedded:probe', name: '  Probe model ' });
    expect(m.name).toBe('Probe model');
    expect((await studio.handlers['models.get']({ id: 'embedded:probe' })).name).toBe('Probe model');
    await expect(studio.handlers['models.rename']({ id: 'embedded:probe', name: ' ' })).rejects.toThrow(/needs a name/);
  });

  it('deletes an imported copy into the trash, leaves the original, refuses the shipped model', async () => {
    const original = join(tmp.dir, 'ink.safetensors');
    await writeLora(original, {});
    const l = await studio.handlers['models.import']({ path: original });
    const { trashedTo } = await studio.handlers['models.delete']({ id: l.id });
    expect(trashedTo).toBe(join(dataDir, 'trash', 'models', `${l.id}.safetensors`));
    expect(existsSync(trashedTo!)).toBe(true);
    expect(existsSync(l.path)).toBe(false);
    expect(existsSync(original)).toBe(true);
    expect((await studio.handlers['models.list']({})).map((m) => m.id)).toEqual(['embedded:probe']);
    await expect(studio.handlers['models.delete']({ id: 'embedded:probe' })).rejects.toThrow(/ships with the app/);
  });

  it('never touches a registered file outside the data folder', async () => {
    const paths = ensureDataDir(join(tmp.dir, 'other-data'));
    const db = openDatabase(paths.db);
    try {
      const registry = new ModelRegistry(db, paths);
      const outside = join(tmp.dir, 'mine.safetensors');
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
    const pkg = join(tmp.dir, 'carded');
    await writeTinyPackage(pkg);
    writeFileSync(join(pkg, 'README.md'), '# Carded\nDraws tiny squares.\n');
    writeFileSync(join(pkg, 'LICENSE'), 'Apache License, Version 2.0\n');
    const m = await studio.handlers['models.import']({ path: pkg });
    const d = await studio.handlers['models.details']({ id: m.id });
    expect(d.card).toEqual({ file: 'README.md', text: '# Carded\nDraws tiny squares.\n' });
    expect(d.licenceText?.text).toMatch(/^Apache License/);
    expect(d.files.map((f) => f.path)).toContain('model.json');
    expect(d.fileCount).toBe(d.files.length);
    expect(d.files[0]!.bytes).toBeGreaterThanOrEqual(d.files.at(-1)!.bytes);
    expect(d.triggerWords).toEqual([]);
  });

  it('reads a LoRA\'s trigger words from our trigger and kohya\'s tag frequencies', async () => {
    const file = join(tmp.dir, 'fox.safetensors');
    await writeLora(file, {
      ss_output_name: 'fox_style',
      ss_sd_model_name: 'probe',
      ss_tag_frequency: JSON.stringify({ '10_fox': { fox: 10, 'red fur': 4, 'zzfox': 4 }, extra: { 'red fur': 3 } }),
      'ldm_studio.dataset': JSON.stringify({ images: 10, rejected: 0, sha256: 'x', trigger: 'zzfox' }),
    });
    const l = await studio.handlers['models.import']({ path: file });
    const d = await studio.handlers['models.details']({ id: l.id });
    expect(d).toMatchObject({ triggerWords: ['zzfox', 'fox', 'red fur'], outputName: 'fox_style', trainedOn: 'probe', card: null, fileCount: 1 });
    // Bad or missing metadata gives nothing rather than an error.
    expect(loraFacts({ ss_tag_frequency: '{not json' })).toEqual({ triggerWords: [], outputName: null, trainedOn: null });
  });

  it('says in plain words why a file is not a model, with the detail beside it', async () => {
    const bad = join(tmp.dir, 'broken.safetensors');
    writeFileSync(bad, Buffer.from('this is not a safetensors header'));
    const v = await studio.handlers['models.validate']({ path: bad });
    expect(v.ok).toBe(false);
    expect(v.summary).toBe('not a model file: its header is not valid safetensors');
    expect(v.errors[0]).toMatch(/^broken\.safetensors is not a valid safetensors file: /);
    mkdirSync(join(tmp.dir, 'empty-folder'));
    expect((await studio.handlers['models.validate']({ path: join(tmp.dir, 'empty-folder') })).summary).toMatch(/^not a model folder/);
    expect(readFileSync(bad, 'utf8')).toBe('this is not a safetensors header');
  });
});
