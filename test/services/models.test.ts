// The models registry: embedded packages at start, validation with clear errors, imports copied into
// the data folder, LoRA files recognised by their tensor names; system.info.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { autoProviderCandidates } from '../../electron/engine/onnx/runtime.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { useTestStudio, writeTinyPackage } from './helpers.ts';

describe('models registry', () => {
  const t = useTestStudio();

  it('lists the embedded package with its hash, size and licence', async () => {
    const [m, ...rest] = await t.studio.handlers['models.list']({});
    expect(rest).toEqual([]);
    expect(m).toMatchObject({ id: 'embedded:probe', name: 'probe', kind: 'ldm', format: 'package', source: 'embedded', licence: 'Apache-2.0' });
    expect(m!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(m!.sizeBytes).toBeGreaterThan(1000);
  });

  it('skips a broken embedded package and still registers the others', async () => {
    const embedded = join(t.tmp.dir, 'embedded2');
    await writeTinyPackage(join(embedded, 'good'));
    mkdirSync(join(embedded, 'broken'));
    writeFileSync(join(embedded, 'broken', 'model.json'), '{ not json');
    const errors: string[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.join(' '));
    try {
      const other = await createStudio({ dataDir: join(t.tmp.dir, 'data2'), transport: 'web', embeddedModelsDir: embedded });
      expect((await other.handlers['models.list']({})).map((m) => m.id)).toEqual(['embedded:good']);
      await other.close();
    } finally {
      console.error = original;
    }
    expect(errors.join('\n')).toMatch(/embedded model skipped: .*broken/);
  });

  it('validates without importing and refuses pickles, broken safetensors and damaged packages with reasons', async () => {
    const dir = t.tmp.dir;
    writeFileSync(join(dir, 'model.ckpt'), 'PK\x03\x04');
    writeFileSync(join(dir, 'broken.safetensors'), Buffer.from([255, 255, 255, 255, 255, 255, 255, 255, 1]));
    await saveSafetensors(join(dir, 'random.safetensors'), { 'some.tensor': tensor('float32', [1], new Float32Array([1])) });
    const pkg = join(dir, 'pkg');
    await writeTinyPackage(pkg);
    const damaged = join(dir, 'damaged');
    await writeTinyPackage(damaged);
    writeFileSync(join(damaged, 'model.safetensors'), 'short');

    const v = (p: string) => t.studio.handlers['models.validate']({ path: join(dir, p) });
    expect((await v('model.ckpt')).errors[0]).toMatch(/pickle checkpoint .* Convert it to .safetensors/);
    expect((await v('broken.safetensors')).errors[0]).toMatch(/not a valid safetensors file/);
    expect((await v('random.safetensors')).errors[0]).toMatch(/none with the names of an LDM\/SD checkpoint/);
    expect((await v('damaged')).errors[0]).toMatch(/not a usable model package: .*model.safetensors is 5 bytes/);
    expect((await v('nothing-here')).errors[0]).toMatch(/Nothing at/);
    expect(await v('pkg')).toEqual({ ok: true, kind: 'ldm', format: 'package', errors: [], warnings: [] });
    await expect(t.studio.handlers['models.import']({ path: join(dir, 'model.ckpt') })).rejects.toThrow(/pickle/);
    expect(await t.studio.handlers['models.list']({})).toHaveLength(1);
  });

  it('imports a package and a LoRA into the data folder and announces them', async () => {
    const changed: string[][] = [];
    t.studio.on('models.changed', (e) => changed.push(e.ids));
    const pkg = join(t.tmp.dir, 'pkg');
    await writeTinyPackage(pkg);
    const imported = await t.studio.handlers['models.import']({ path: pkg, name: 'My tiny model' });
    expect(imported).toMatchObject({ name: 'My tiny model', kind: 'ldm', source: 'imported' });
    expect(imported.path.startsWith(join(t.dataDir, 'models'))).toBe(true);
    expect(existsSync(join(imported.path, 'model.json'))).toBe(true);
    expect(imported.hash).toBe((await t.studio.handlers['models.get']({ id: 'embedded:probe' })).hash);

    mkdirSync(join(t.tmp.dir, 'loras'));
    const lora = join(t.tmp.dir, 'loras', 'ink.safetensors');
    await saveSafetensors(lora, {
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': tensor('float32', [4, 16], new Float32Array(64)),
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': tensor('float32', [16, 4], new Float32Array(64)),
    });
    const l = await t.studio.handlers['models.import']({ path: lora });
    expect(l).toMatchObject({ name: 'ink', kind: 'lora', format: 'safetensors' });
    expect(readFileSync(l.path)).toEqual(readFileSync(lora));
    expect((await t.studio.handlers['models.list']({ kind: 'lora' })).map((m) => m.id)).toEqual([l.id]);
    expect(changed).toEqual([[imported.id], [l.id]]);
  });

  it('answers system.info with versions, providers and the data folder', async () => {
    const info = await t.studio.handlers['system.info']({});
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(info).toMatchObject({ appVersion: pkg.version, dataDir: t.dataDir, transport: 'web' });
    expect(info.onnxruntimeVersion).toMatch(/^1\.\d+\.\d+/);
    expect(info.executionProviders).toContain('cpu');
    expect(info.executionProviders).toContain(info.activeProvider);
    // Before any job it names what 'auto' would use: never the experimental webgpu it skips.
    expect(info.activeProvider).toBe(autoProviderCandidates()[0]);
    expect(info.activeProvider).not.toBe('webgpu');
  });
});
