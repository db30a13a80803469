// What the header check adds to JSON.parse, case by case: each test first shows JSON.parse taking the
// header without complaint, then the reader refusing it (or, for what must pass, reading it right).
import { describe, expect, it } from 'vitest';
import { SafetensorsError, parseSafetensors } from '../../../electron/engine/io/safetensors.ts';

/** A file from a raw header string and data bytes, exactly as given. */
function rawFile(header: string, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function refusal(header: string, dataBytes = 0): string {
  expect(() => JSON.parse(header)).not.toThrow(); // JSON.parse alone takes it
  try {
    parseSafetensors(rawFile(header, new Uint8Array(dataBytes)));
  } catch (err) {
    expect(err).toBeInstanceOf(SafetensorsError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${header}`);
}

const f32 = (begin: number) => `{"dtype":"F32","shape":[1],"data_offsets":[${begin},${begin + 4}]}`;

describe('the safetensors header JSON', () => {
  it('refuses a key given twice, however it is spelled, where JSON.parse keeps the last', () => {
    const twice = `{"w":${f32(0)},"w":${f32(4)}}`;
    expect(Object.keys(JSON.parse(twice))).toEqual(['w']); // one tensor, the second; another reader may take the first
    expect(refusal(twice, 8)).toMatch(/duplicate key "w"/);
    expect(refusal(`{"w":${f32(0)},"\\u0077":${f32(4)}}`, 8)).toMatch(/duplicate key "w"/); // "\u0077" is "w"
    expect(refusal(`{"w" \n\t ${' '.repeat(100)}: ${f32(0)},"w"${' '.repeat(100)}:${f32(4)}}`, 8)).toMatch(/duplicate key "w"/);
    expect(refusal(`{"w":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)).toMatch(/duplicate key "dtype"/);
    expect(refusal('{"__metadata__":{"a":"1","a":"2"}}')).toMatch(/duplicate key "a"/);
  });

  it('refuses strings that escape a lone surrogate (not Unicode: the reference refuses them, our writer never writes them)', () => {
    expect(JSON.parse('"\\ud800"')).toBe('\ud800');
    expect(refusal(`{"w\\ud800":${f32(0)}}`, 4)).toMatch(/is not valid Unicode \(a lone surrogate\)/);
    expect(refusal('{"__metadata__":{"a":"\\udc00x"}}')).toMatch(/is not valid Unicode/);
    // A pair is a character: accepted.
    const pair = parseSafetensors(rawFile(`{"w\\ud83d\\ude00":${f32(0)}}`, new Uint8Array(4)));
    expect([...pair.tensors.keys()]).toEqual(['w\u{1F600}']);
  });

  it('refuses offsets and sizes at or past 2^53, which JSON.parse rounds to a neighbour', () => {
    expect(JSON.parse('9007199254740993')).toBe(2 ** 53); // 2^53 + 1 reads as 2^53
    expect(refusal('{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,9007199254740993]}}')).toMatch(/below 2\^53/);
    expect(refusal('{"w":{"dtype":"U8","shape":[1],"data_offsets":[9007199254740992,9007199254740993]}}')).toMatch(/data_offsets\[0\] must be a non-negative integer below 2\^53/);
  });

  it('refuses nesting deeper than 64 levels', () => {
    expect(refusal(`{"__metadata__":${'['.repeat(100)}${']'.repeat(100)}}`)).toMatch(/nested deeper than 64 levels/);
  });

  it('is not fooled by braces, quotes, colons and backslashes inside strings, nor by a value spelled as a key', () => {
    const name = 'a{"b":[}\\"\\\\:';
    const header = JSON.stringify({
      __metadata__: { [name]: 'w', w: name, x: '\\', y: '"' },
      [name]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    });
    const file = parseSafetensors(rawFile(header, new Uint8Array(8)));
    expect([...file.tensors.keys()].sort()).toEqual([name, 'w'].sort());
    expect(file.metadata).toEqual({ [name]: 'w', w: name, x: '\\', y: '"' });
    // The same key in sibling objects is no duplicate.
    expect(parseSafetensors(rawFile(`{"a":${f32(0)},"b":${f32(4)}}`, new Uint8Array(8))).tensors.size).toBe(2);
  });

  it('words what JSON.parse refuses as a header error', () => {
    for (const bad of ['{"a": }', '{"a": 1} x', '{"a": "\\q"}', '{"a": "\u0001"}', '{"a": tru}']) {
      expect(() => parseSafetensors(rawFile(bad))).toThrow(/invalid safetensors header: the JSON does not parse/);
    }
  });
});
