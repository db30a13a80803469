// Textual-inversion embeddings as AUTOMATIC1111 reads them from .safetensors files: the vectors under
// `emb_params` [n, D] (A1111's own training, and this studio's), under `string_to_param.*` (the
// original textual-inversion layout, flattened), or a file holding a single tensor [n, D] / [D]. The
// embedding's name is the file name without its extension (A1111: the word used in prompts).
import * as path from 'node:path';
import { loadSafetensors } from './safetensors.ts';
import type { TensorData } from '../tensor.ts';

export class EmbeddingError extends Error {
  override name = 'EmbeddingError';
}

export interface TextEmbedding {
  /** The word that stands for it in prompts (the file name without extension). */
  readonly name: string;
  /** Number of token vectors (prompt positions it fills). */
  readonly vectors: number;
  readonly width: number;
  /** vectors × width, row-major. */
  readonly data: Float32Array;
}

/** The embedding's vectors from a file's tensors; `file` names it in errors. */
export function embeddingFromTensors(name: string, tensors: ReadonlyMap<string, TensorData>, file: string): TextEmbedding {
  const base = path.basename(file);
  let t: TensorData | undefined = tensors.get('emb_params') ?? tensors.get('string_to_param.*');
  if (!t) {
    if (tensors.has('clip_l') || tensors.has('clip_g')) {
      throw new EmbeddingError(`${base} is an SDXL embedding (clip_l/clip_g); SD 1.x and 2.x models cannot use it`);
    }
    if (tensors.size !== 1) {
      throw new EmbeddingError(`${base} is not a textual-inversion embedding: expected 'emb_params' [n, width] or one single tensor, found ${tensors.size} tensors`);
    }
    t = [...tensors.values()][0]!;
  }
  const shape = t.shape.length === 1 ? [1, t.shape[0]!] : t.shape;
  if (shape.length !== 2 || shape[0]! < 1 || shape[1]! < 1) {
    throw new EmbeddingError(`${base}: the embedding tensor is [${t.shape.join(', ')}]; expected [vectors, width]`);
  }
  if (!(t.data instanceof Float32Array) && !(t.data instanceof Float64Array)) {
    throw new EmbeddingError(`${base}: the embedding is ${t.dtype}; it must be floating point (F32, F16 or BF16)`);
  }
  const data = Float32Array.from(t.data as ArrayLike<number>);
  if (!data.every(Number.isFinite)) throw new EmbeddingError(`${base}: the embedding holds NaN or infinite values`);
  return { name, vectors: shape[0]!, width: shape[1]!, data };
}

/** Reads an embedding file; its name in prompts is the file name without extension. */
export async function readEmbeddingFile(file: string): Promise<TextEmbedding> {
  if (!/\.safetensors$/i.test(file)) throw new EmbeddingError(`${path.basename(file)}: embeddings are read from .safetensors files only (.pt/.bin files can run code)`);
  const { tensors } = await loadSafetensors(file);
  return embeddingFromTensors(path.basename(file, path.extname(file)), tensors, file);
}

/** Checks an embedding against the text encoder it is used with (SD 1.x: 768 wide, SD 2.x: 1024). */
export function checkEmbeddingWidth(e: TextEmbedding, width: number, file: string): TextEmbedding {
  if (e.width !== width) {
    throw new EmbeddingError(
      `${path.basename(file)}: the embedding is ${e.width} wide but this model's text encoder is ${width} wide; it was made for another model family (SD 1.x: 768, SD 2.x: 1024)`,
    );
  }
  return e;
}

/** Embedding name → vector count, as chunkPrompt takes it. */
export function embeddingCounts(embeddings: ReadonlyMap<string, TextEmbedding>): Map<string, number> {
  return new Map([...embeddings].map(([name, e]) => [name, e.vectors]));
}

/**
 * Splices the embeddings placed in the chunks into the token sequence: each placeholder position of
 * `ids` (chunk i at i·length) gets the id of its row in an extra table appended after the model's
 * `vocabSize` rows. Returns that table (the vectors of the embeddings used, each once), or null when
 * the chunks use none.
 */
export function spliceEmbeddings(
  chunks: readonly { readonly embeddings: readonly { name: string; position: number; vectors: number }[] }[],
  ids: BigInt64Array,
  length: number,
  embeddings: ReadonlyMap<string, TextEmbedding> | undefined,
  vocabSize: number,
): Float32Array | null {
  const firstRow = new Map<string, number>();
  const used: TextEmbedding[] = [];
  let rows = 0;
  chunks.forEach((c, i) => {
    for (const p of c.embeddings) {
      const e = embeddings?.get(p.name);
      if (!e || e.vectors !== p.vectors) throw new EmbeddingError(`the prompt places embedding '${p.name}' but the model was not given it`);
      if (p.position + e.vectors > length) throw new EmbeddingError(`embedding '${p.name}' does not fit in its prompt chunk`);
      let row = firstRow.get(p.name);
      if (row === undefined) {
        row = rows;
        firstRow.set(p.name, row);
        used.push(e);
        rows += e.vectors;
      }
      for (let k = 0; k < e.vectors; k++) ids[i * length + p.position + k] = BigInt(vocabSize + row + k);
    }
  });
  if (used.length === 0) return null;
  const width = used[0]!.width;
  const table = new Float32Array(rows * width);
  let at = 0;
  for (const e of used) {
    table.set(e.data, at);
    at += e.data.length;
  }
  return table;
}
