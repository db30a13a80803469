// Whether a file is an ONNX model, by its protobuf structure: every top-level field of a ModelProto
// (onnx.proto: ir_version 1, producer_name 2 … graph 7, opset_import 8, metadata_props 14,
// training_info 20, functions 25) with its wire type, lengths inside the file, an ir_version and a graph.
// Only field headers are read, so a multi-gigabyte model is checked in a few reads.
import { open } from 'node:fs/promises';

/** Field number → protobuf wire type (0 varint, 2 length-delimited) of onnx.ModelProto. */
const MODEL_FIELDS: Readonly<Record<number, number>> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };

/** What is wrong with `file` as an ONNX model, or null when its structure is sound. */
export async function onnxProblem(file: string): Promise<string | null> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 8) return `is only ${size} bytes: not an ONNX model`;
    const buf = Buffer.alloc(20);
    let pos = 0;
    let ir = 0;
    let graph = false;
    const varint = async (at: number): Promise<{ value: number; next: number } | null> => {
      const { bytesRead } = await fh.read(buf, 0, 10, at);
      let value = 0;
      for (let i = 0; i < bytesRead; i++) {
        value += (buf[i]! & 0x7f) * 2 ** (7 * i);
        if ((buf[i]! & 0x80) === 0) return { value, next: at + i + 1 };
      }
      return null;
    };
    for (let fields = 0; pos < size; fields++) {
      if (fields > 100_000) return 'has too many top-level fields: not an ONNX model';
      const tag = await varint(pos);
      if (!tag) return `is not an ONNX model (a broken field header at byte ${pos})`;
      const field = Math.floor(tag.value / 8);
      const wire = tag.value % 8;
      if (MODEL_FIELDS[field] !== wire) return `is not an ONNX model (unexpected data at byte ${pos})`;
      const v = await varint(tag.next);
      if (!v) return `is not an ONNX model (a broken value at byte ${tag.next})`;
      if (wire === 0) {
        if (field === 1) ir = v.value;
        pos = v.next;
      } else {
        if (v.next + v.value > size) return `is truncated (a field at byte ${pos} runs past the end of the file)`;
        if (field === 7 && v.value > 0) graph = true;
        pos = v.next + v.value;
      }
    }
    if (ir < 1 || ir > 100) return 'has no valid ONNX ir_version: not an ONNX model';
    if (!graph) return 'has no graph: not an ONNX model';
    return null;
  } finally {
    await fh.close();
  }
}
