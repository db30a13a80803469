// Reading real torch.save files (made by scripts/reference/make_ckpt.py with PyTorch 1.13) and converting
// them to safetensors: every tensor's values as torch reads them back, views, shared storages, all dtypes.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, convertCheckpoint, openCheckpoint } from '../../../electron/engine/io/checkpoint.ts';
import { loadSafetensors, readSafetensorsHeader } from '../../../electron/engine/io/safetensors.ts';
import { bf16ToFloat, halfToFloat, type TensorData } from '../../../electron/engine/tensor.ts';
import { f32Tensor, torchSave } from './ckpt-writer.ts';

const FIXTURES = new URL('../../fixtures/ckpt/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'ldm-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Expected {
  tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
}

const TORCH_DTYPE: Record<string, string> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** Values as numbers whatever the stored dtype (the loader widens F16/BF16 to float32). */
function values(t: TensorData): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
}

function rawValues(dtype: string, bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  const size = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }[dtype]!;
  for (let i = 0; i < bytes.length; i += size) {
    out.push(
      dtype === 'F32' ? v.getFloat32(i, true)
      : dtype === 'F16' ? halfToFloat(v.getUint16(i, true))
      : dtype === 'BF16' ? bf16ToFloat(v.getUint16(i, true))
      : dtype === 'F64' ? v.getFloat64(i, true)
      : dtype === 'I64' ? Number(v.getBigInt64(i, true))
      : dtype === 'I32' ? v.getInt32(i, true)
      : dtype === 'I16' ? v.getInt16(i, true)
      : dtype === 'I8' ? v.getInt8(i)
      : v.getUint8(i),
    );
  }
  return out;
}

describe.each(['basic.ckpt', 'lightning.ckpt', 'plain.pt'])('real torch.save file %s', (name) => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, name.replace(/\.\w+$/, '.json')), 'utf8')) as Expected;

  it('reads every tensor with the values torch reads back (views, offsets, shared storages, every dtype)', async () => {
    const ckpt = await openCheckpoint(join(FIXTURES, name));
    try {
      expect(ckpt.tensors.map((t) => t.name)).toEqual(Object.keys(expected.tensors));
      for (const t of ckpt.tensors) {
        const e = expected.tensors[t.name]!;
        expect(t.dtype, t.name).toBe(TORCH_DTYPE[e.dtype]);
        expect(t.shape, t.name).toEqual(e.shape);
        const got = rawValues(t.dtype, await ckpt.readTensor(t));
        if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64') {
          got.forEach((x, i) => expect(x, `${t.name}[${i}]`).toBeCloseTo(e.values[i]!, 6));
        } else {
          expect(got, t.name).toEqual(e.values);
        }
      }
    } finally {
      await ckpt.close();
    }
  });

  it('converts to a safetensors file that the strict reader loads with the same values', async () => {
    const out = join(dir, `${name}.safetensors`);
    const r = await convertCheckpoint(join(FIXTURES, name), out);
    expect(r.tensors).toBe(Object.keys(expected.tensors).length);
    expect(statSync(out).size).toBe(r.bytes);
    const loaded = await loadSafetensors(out);
    for (const [k, e] of Object.entries(expected.tensors)) {
      const t = loaded.tensors.get(k)!;
      expect([...t.shape], k).toEqual(e.shape);
      expect(loaded.storedDtypes.get(k), k).toBe(TORCH_DTYPE[e.dtype]);
      values(t).forEach((x, i) => expect(x, `${k}[${i}]`).toBeCloseTo(e.values[i]!, 6));
    }
    expect(loaded.metadata.format).toBe('pt');
  });
});

describe('checkpoint contents besides tensors', () => {
  it('takes the nested Lightning state_dict; plain values go to the metadata, training state and objects are left out and named', async () => {
    const out = join(dir, 'lightning-meta.safetensors');
    const r = await convertCheckpoint(join(FIXTURES, 'lightning.ckpt'), out, { converted_from: 'abc' });
    expect(r.stateDictKey).toBe('state_dict');
    const { metadata } = await readSafetensorsHeader(out);
    expect(metadata).toMatchObject({
      global_step: '470000',
      epoch: '3',
      'pytorch-lightning_version': '1.4.2',
      np_step: '7', // a numpy int64 scalar, decoded from its bytes
      learning_rate: '0.0001',
      converted_from: 'abc',
    });
    expect(metadata.optimizer_states).toBeUndefined();
    expect(r.notes).toEqual(expect.arrayContaining(['left out callbacks (training state)', 'left out optimizer_states (training state)']));
    // model_ema.num_updates (a 0-dim int32 buffer) is a tensor like any other
    const loaded = await loadSafetensors(out);
    expect(values(loaded.tensors.get('model_ema.num_updates')!)).toEqual([1234]);
    expect(loaded.tensors.get('model_ema.num_updates')!.shape).toEqual([]);
  });

  it('numpy arrays, numpy scalars and torch.device (a real torch.save file) are read as data, as torch gives them back', async () => {
    const out = join(dir, 'numpy-device.safetensors');
    const r = await convertCheckpoint(join(FIXTURES, 'numpy-device.ckpt'), out);
    expect(r.notes).toEqual([]);
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'numpy-device.json'), 'utf8')) as Record<string, unknown>;
    const { metadata } = await readSafetensorsHeader(out);
    for (const [k, v] of Object.entries(expected)) expect(metadata[k], k).toBe(typeof v === 'string' ? v : JSON.stringify(v));
    expect(metadata).toMatchObject({ loss_history: '[0.5,0.25,0.125]', grid: '[[1,2],[3,4]]', device: 'cuda:0', map_location: 'cpu' });
  });

  it('a top-level state dict is used as it is', async () => {
    const ckpt = await openCheckpoint(join(FIXTURES, 'plain.pt'));
    expect(ckpt.stateDictKey).toBe('');
    await ckpt.close();
  });

  it('refuses the legacy (non-zip) format with a clear message', async () => {
    await expect(openCheckpoint(join(FIXTURES, 'legacy.pt'))).rejects.toThrow(/legacy PyTorch checkpoint.*refused/);
  });

  it('refuses a real torch.save file whose pickle would run os.system, naming it, and runs nothing', async () => {
    await expect(openCheckpoint(join(FIXTURES, 'os-system.ckpt'))).rejects.toThrow(/refused: the file asks to run `posix\.system`/);
  });

  it('refuses what is not a checkpoint, and a file with no tensors', async () => {
    const junk = join(dir, 'junk.ckpt');
    writeFileSync(junk, 'hello world, not a checkpoint');
    await expect(openCheckpoint(junk)).rejects.toThrow(CheckpointError);
    const empty = join(dir, 'empty.ckpt');
    writeFileSync(empty, torchSave({ $dict: [['global_step', 3]] }));
    await expect(openCheckpoint(empty)).rejects.toThrow(/no tensors/);
  });

  it('checks that the byteorder record says little', async () => {
    const { torchZip } = await import('./ckpt-writer.ts');
    const good = torchSave({ $dict: [['w', f32Tensor([1, 2])]] });
    const be = join(dir, 'big-endian.ckpt');
    // rebuild the archive with a byteorder record, as torch 2.x writes it
    const { ZipArchive } = await import('../../../electron/engine/io/zip.ts');
    const src = join(dir, 'src.ckpt');
    writeFileSync(src, good);
    const z = await ZipArchive.open(src);
    const records = await Promise.all([...z.entries.keys()].map(async (n) => ({ name: n, data: await z.read(n, 1 << 20) })));
    await z.close();
    writeFileSync(be, torchZip([...records, { name: 'archive/byteorder', data: new TextEncoder().encode('big') }]));
    await expect(openCheckpoint(be)).rejects.toThrow(/big-endian/);
    const le = join(dir, 'little-endian.ckpt');
    writeFileSync(le, torchZip([...records, { name: 'archive/byteorder', data: new TextEncoder().encode('little') }]));
    const ok = await openCheckpoint(le);
    expect(ok.tensors.map((t) => t.name)).toEqual(['w']);
    await ok.close();
  });
});
