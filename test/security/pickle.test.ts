// Hostile PyTorch checkpoints: every way a pickle can ask to run code is refused with the name of what it
// asked for, before anything is called; storages that lie about their size or views that reach outside
// them are refused before a byte is allocated for them.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, openCheckpoint } from '../../electron/engine/io/checkpoint.ts';
import { PickleError, readPickle } from '../../electron/engine/io/pickle.ts';
import { f32Storage, f32Tensor, picklePy, torchSave, torchZip, type Py } from '../engine/io/ckpt-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-pickle-sec-'));
const canary = join(dir, 'pwned');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function ckptFile(bytes: Uint8Array): string {
  const f = join(dir, `c${n++}.ckpt`);
  writeFileSync(f, bytes);
  return f;
}
const withPayload = (payload: Py): Uint8Array =>
  torchSave({ $dict: [['state_dict', { $odict: [['w', f32Tensor([1, 2])]] }], ['payload', payload]] });

const op = (...b: number[]): { $raw: Uint8Array } => ({ $raw: Uint8Array.from(b) });
const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];

describe('refused globals and calls (nothing runs)', () => {
  it.each([
    ['os.system via REDUCE', { $reduce: { global: 'os system', args: [`touch ${canary}`] } }, /refused: the file asks to run `os\.system`/],
    ['posix.system', { $reduce: { global: 'posix system', args: [`touch ${canary}`] } }, /`posix\.system`/],
    ['builtins.eval', { $reduce: { global: 'builtins eval', args: [`__import__('os').system('touch ${canary}')`] } }, /`builtins\.eval`/],
    ['__builtin__.exec', { $reduce: { global: '__builtin__ exec', args: ['1'] } }, /`__builtin__\.exec`/],
    ['GLOBAL of subprocess.Popen', { $global: 'subprocess Popen' }, /`subprocess\.Popen`/],
    ['builtins.getattr chain', { $reduce: { global: 'builtins getattr', args: [{ $global: 'os path' }, 'join'] } }, /`builtins\.getattr`/],
    ['torch.load inside', { $reduce: { global: 'torch load', args: ['x'] } }, /`torch\.load`/],
    ['numpy.load', { $reduce: { global: 'numpy load', args: ['x'] } }, /`numpy\.load`/],
    ['a look-alike of an allowed name', { $reduce: { global: 'collections.OrderedDict __init__', args: [] } }, /`collections\.OrderedDict\.__init__`/],
    // an allowed rebuild fed a forbidden global as its argument: refused at the argument
    ['__reduce__ chain through an allowed callable', { $reduce: { global: 'torch._utils _rebuild_parameter', args: [{ $reduce: { global: 'os system', args: ['x'] } }, false, null] } }, /`os\.system`/],
  ] as [string, Py, RegExp][])('%s', async (_, payload, message) => {
    await expect(openCheckpoint(ckptFile(withPayload(payload)))).rejects.toThrow(message);
    expect(existsSync(canary)).toBe(false);
  });

  it('numpy arrays and torch.device are rebuilt only in their own harmless forms', async () => {
    const reconstruct = (cls: string): Py => ({ $reduce: { global: 'numpy.core.multiarray _reconstruct', args: [{ $global: cls }, { $tuple: [0] }, { $raw: Uint8Array.of(0x43, 1, 0x62) } as Py] } });
    await expect(openCheckpoint(ckptFile(withPayload(reconstruct('os system'))))).rejects.toThrow(/`os\.system`/);
    await expect(openCheckpoint(ckptFile(withPayload(reconstruct('collections OrderedDict'))))).rejects.toThrow(/only allowed as _reconstruct\(numpy\.ndarray/);
    await expect(openCheckpoint(ckptFile(withPayload({ $reduce: { global: 'numpy ndarray', args: [{ $tuple: [2] }] } })))).rejects.toThrow(/`numpy\.ndarray`, which is only allowed as a name/);
    await expect(openCheckpoint(ckptFile(withPayload({ $reduce: { global: 'torch device', args: ['cuda; rm -rf /'] } })))).rejects.toThrow(/torch\.device expects a device type/);
    const ok = await openCheckpoint(ckptFile(withPayload({ $reduce: { global: 'torch device', args: ['cuda', 1] } })));
    expect(ok.metadata.payload).toBe('cuda:1');
    await ok.close();
    expect(existsSync(canary)).toBe(false);
  });

  it('a name-only global (Lightning callback type) may label a dict but not be called', async () => {
    const label = { $global: 'pytorch_lightning.callbacks.model_checkpoint ModelCheckpoint' };
    const ok = await openCheckpoint(ckptFile(withPayload({ $dict: [[label, { $dict: [['best', 1]] }]] })));
    await ok.close();
    await expect(openCheckpoint(ckptFile(withPayload({ $reduce: { global: 'pytorch_lightning.callbacks.model_checkpoint ModelCheckpoint', args: [] } }))))
      .rejects.toThrow(/only allowed as a name/);
  });

  it('STACK_GLOBAL (protocol 4) is checked the same way', () => {
    const bytes = picklePy({ $tuple: [op(0x8c, 2, ...ascii('os'), 0x8c, 6, ...ascii('system'), 0x93) as Py] });
    expect(() => readPickle(bytes)).toThrow(/`os\.system`/);
  });

  it.each([
    ['INST', [0x69, ...ascii('os\nsystem\n')]],
    ['OBJ', [0x28, 0x6f]],
    ['EXT1', [0x82, 1]],
    ['PERSID (text)', [0x50, ...ascii('x\n')]],
    ['NEWOBJ', [0x81]],
    ['NEXT_BUFFER', [0x97]],
  ])('opcode %s is refused by name', (name, bytes) => {
    expect(() => readPickle(Uint8Array.from([0x80, 2, ...bytes, 0x2e]))).toThrow(new RegExp(`opcode ${name.split(' ')[0]}`));
  });

  it('a persistent id that is not a torch storage is refused', () => {
    expect(() => readPickle(picklePy({ $tuple: [op(0x4b, 1, 0x51) as Py] }))).toThrow(/persistent id/);
  });
});

describe('storages and views are checked before anything is allocated', () => {
  const tensorIn = (spec: Py): Uint8Array => torchSave({ $dict: [['w', spec]] });

  it('a storage that claims more elements than its entry holds', async () => {
    const lie = { $tensor: { storage: { ...f32Storage([1, 2]), numel: 2 ** 40 }, shape: [2] } };
    await expect(openCheckpoint(ckptFile(tensorIn(lie)))).rejects.toThrow(/claims 1099511627776 × 4 bytes but its entry holds 8/);
  });

  it('a view that reaches past its storage (offset, shape or strides)', async () => {
    const s = f32Storage([1, 2, 3, 4]);
    for (const t of [
      { storage: s, offset: 3, shape: [2] },
      { storage: s, shape: [5] },
      { storage: s, shape: [2, 2], stride: [3, 1] },
      { storage: s, shape: [2 ** 26, 2 ** 26], stride: [2 ** 26, 1] },
    ]) {
      await expect(openCheckpoint(ckptFile(tensorIn({ $tensor: t })))).rejects.toThrow(/reaches element|overflows/);
    }
  });

  it('views that repeat a tiny storage into terabytes (stride 0) are refused before anything is read', async () => {
    const bomb = { $tensor: { storage: f32Storage([1]), shape: [2 ** 20, 2 ** 20], stride: [0, 0] } };
    await expect(openCheckpoint(ckptFile(tensorIn(bomb)))).rejects.toThrow(/expand the \d+-byte file to 4398046511104 bytes .*decompression bomb/);
    // a modest broadcast (as torch.expand writes) still reads
    const ok = await openCheckpoint(ckptFile(tensorIn({ $tensor: { storage: f32Storage([1, 2]), shape: [1000, 2], stride: [0, 1] } })));
    expect(ok.tensors[0]!.byteLength).toBe(8000);
    await ok.close();
  });

  it('shape/stride of different ranks, negative or huge sizes', () => {
    const bad = (shape: Py, stride: Py): Uint8Array =>
      picklePy({ $reduce: { global: 'torch._utils _rebuild_tensor_v2', args: [op(0x4e) as Py, 0, shape, stride, false, null] } });
    expect(() => readPickle(bad({ $tuple: [2] }, { $tuple: [1, 1] }))).toThrow(/storage|dimensions/);
  });

  it('a storage key that would escape the archive folder', async () => {
    const pid = picklePy({ $dict: [['w', {
      $reduce: { global: 'torch._utils _rebuild_tensor_v2', args: [
        { $raw: Uint8Array.from([0x28, ...[0x58, 7, 0, 0, 0, ...ascii('storage')], 0x63, ...ascii('torch\nFloatStorage\n'), 0x58, 5, 0, 0, 0, ...ascii('../x0'), 0x58, 3, 0, 0, 0, ...ascii('cpu'), 0x4b, 1, 0x74, 0x51]) } as Py,
        0, { $tuple: [1] }, { $tuple: [1] }, false, null,
      ] },
    }]] });
    await expect(openCheckpoint(ckptFile(torchZip([{ name: 'archive/data.pkl', data: pid }])))).rejects.toThrow(/storage key/);
  });

  it('a storage missing from the archive', async () => {
    const bytes = torchSave({ $dict: [['w', f32Tensor([1, 2])]] });
    // drop the data/0 record by rebuilding the zip with the pickle only
    const pkl = picklePy({ $dict: [['w', f32Tensor([1, 2])]] });
    expect(bytes.length).toBeGreaterThan(pkl.length);
    await expect(openCheckpoint(ckptFile(torchZip([{ name: 'archive/data.pkl', data: pkl }])))).rejects.toThrow(/storage 0 is missing/);
  });

  it('entries outside the archive folder, or two data.pkl', async () => {
    const pkl = picklePy({ $dict: [['w', f32Tensor([1])]] });
    await expect(openCheckpoint(ckptFile(torchZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'other/x', data: new Uint8Array(1) }])))).rejects.toThrow(/outside the archive's folder/);
    await expect(openCheckpoint(ckptFile(torchZip([{ name: 'a/data.pkl', data: pkl }, { name: 'b/data.pkl', data: pkl }])))).rejects.toThrow(/found 2/);
  });
});

describe('pickle resource limits', () => {
  it('caps the stack, the memo, containers and opcodes', () => {
    const many = (count: number, b: number[]): number[] => Array.from({ length: count }, () => b).flat();
    expect(() => readPickle(Uint8Array.from([0x80, 2, ...many(2000, [0x4e]), 0x2e]), { maxStack: 1000 })).toThrow(/stack grows past 1000/);
    expect(() => readPickle(Uint8Array.from([0x80, 2, 0x4e, ...many(2000, [0x94]), 0x2e]), { maxMemo: 1000 })).toThrow(/memo grows past 1000/);
    expect(() => readPickle(Uint8Array.from([0x80, 2, 0x5d, ...many(2000, [0x4e, 0x61]), 0x2e]), { maxContainer: 1000 })).toThrow(/container grows past 1000/);
    expect(() => readPickle(Uint8Array.from([0x80, 2, ...many(2000, [0x4e, 0x30]), 0x4e, 0x2e]), { maxOps: 1000 })).toThrow(/past 1000 opcodes/);
  });

  it('lengths that run past the pickle, truncation, underflow and memo misses are errors, not crashes', () => {
    for (const bytes of [
      [0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61],
      [0x80, 2, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
      [0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0xff],
      [0x80, 2, 0x2e],
      [0x80, 2, 0x68, 9, 0x2e],
      [0x80, 2, 0x74, 0x2e],
      [0x80, 2, 0x4e, 0x73, 0x2e],
      [0x80, 2],
    ]) {
      expect(() => readPickle(Uint8Array.from(bytes))).toThrow(PickleError);
    }
  });

  it('a self-containing dict (a cycle) reads and is left out of the metadata', async () => {
    // d = {}; d['self'] = d
    const pkl = Uint8Array.from([0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x77, 0x4b, 1, 0x73, 0x2e]);
    expect(readPickle(pkl)).toBeInstanceOf(Map);
    const cyc = withPayload({ $raw: Uint8Array.from([0x7d, 0x71, 200, 0x58, 4, 0, 0, 0, ...ascii('self'), 0x68, 200, 0x73]) });
    const ck = await openCheckpoint(ckptFile(cyc));
    expect(ck.metadata.payload).toBeUndefined();
    expect(ck.notes.join()).toMatch(/payload/);
    await ck.close();
  });
});

describe('checkpoint errors', () => {
  it('are CheckpointErrors that name the file', async () => {
    const f = ckptFile(withPayload({ $global: 'os system' }));
    const err = await openCheckpoint(f).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message.startsWith(f)).toBe(true);
  });
});
