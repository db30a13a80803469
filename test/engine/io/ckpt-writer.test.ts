// Our test writer produces torch.save's bytes exactly (compared with a real PyTorch 1.13 file), so the
// hostile and fuzzed variants the security tests build from it are faithful to the real layout.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { torchSave, type Storage } from './ckpt-writer.ts';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../fixtures/ckpt/${name}`, import.meta.url)));

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

describe('torchSave (test writer)', () => {
  it('writes basic.ckpt byte for byte as torch.save does', () => {
    const a: Storage = { dtype: 'F32', bytes: bytesOf(Float32Array.from([0, 1, 2, 3, 4, 5])) };
    const half = bytesOf(Uint16Array.from([0x3800, 0xc000, 0x7bff])); // 0.5, -2, 65504
    const bf = bytesOf(Uint16Array.from([0x3fc0, 0xc040])); // 1.5, -3
    const long = bytesOf(BigInt64Array.from([1n, -2n, 2n ** 40n]));
    const written = torchSave(
      {
        $dict: [
          ['state_dict', {
            $odict: [
              ['a', { $tensor: { storage: a, shape: [2, 3] } }],
              ['b', { $tensor: { storage: a, shape: [3, 2], stride: [1, 3] } }],
              ['h', { $tensor: { storage: { dtype: 'F16', bytes: half }, shape: [3] } }],
              ['bf', { $tensor: { storage: { dtype: 'BF16', bytes: bf }, shape: [2] } }],
              ['l', { $tensor: { storage: { dtype: 'I64', bytes: long }, shape: [3] } }],
            ],
          }],
          ['global_step', 5],
          ['epoch', 1],
        ],
      },
      'basic',
    );
    const real = fixture('basic.ckpt');
    const firstDiff = written.findIndex((b, i) => b !== real[i]);
    expect({ firstDiff, length: written.length }).toEqual({ firstDiff: -1, length: real.length });
  });
});
