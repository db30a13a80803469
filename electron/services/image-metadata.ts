// PNG text chunks and the generation-parameter formats other tools write (ldm-facts.md §8).
// TODO: move the chunk reader/writer onto electron/engine/io/png-metadata.ts once it lands.
import { crc32, inflateSync } from 'node:zlib';
import { StudioError } from '../api/contract.ts';

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const MAX_TEXT_BYTES = 16 * 1024 * 1024;

export class PngMetadataError extends StudioError {
  constructor(message: string) {
    super(message, 'bad_png');
    this.name = 'PngMetadataError';
  }
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Every tEXt, zTXt and iTXt chunk of a PNG, keyword → text; malformed chunks throw with what is wrong. */
export function readPngText(bytes: Uint8Array): Map<string, string> {
  if (!isPng(bytes)) throw new PngMetadataError('not a PNG file (the 8-byte signature is missing)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, string>();
  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 12 > bytes.length) throw new PngMetadataError(`truncated PNG: a chunk header at byte ${pos} runs past the end of the file`);
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const end = pos + 12 + len;
    if (len > 0x7fffffff || end > bytes.length) {
      throw new PngMetadataError(`truncated PNG: chunk "${type}" at byte ${pos} claims ${len} bytes, more than the file holds`);
    }
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const crc = view.getUint32(pos + 8 + len);
      if (crc32(bytes.subarray(pos + 4, pos + 8 + len)) !== crc) {
        throw new PngMetadataError(`corrupt PNG: the CRC of the "${type}" chunk at byte ${pos} does not match its contents`);
      }
      const [keyword, text] = decodeTextChunk(type, data, pos);
      out.set(keyword, text);
    }
    if (type === 'IEND') break;
    pos = end;
  }
  return out;
}

function decodeTextChunk(type: string, data: Uint8Array, pos: number): [string, string] {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) throw new PngMetadataError(`corrupt PNG: the "${type}" chunk at byte ${pos} has no valid keyword`);
  const keyword = Buffer.from(data.subarray(0, nul)).toString('latin1');
  const bad = (why: string) => new PngMetadataError(`corrupt PNG: the "${type}" chunk "${keyword}" at byte ${pos} ${why}`);
  const inflate = (z: Uint8Array) => {
    try {
      return inflateSync(z, { maxOutputLength: MAX_TEXT_BYTES });
    } catch (err) {
      throw bad(`cannot be decompressed (${(err as Error).message})`);
    }
  };
  if (type === 'tEXt') return [keyword, Buffer.from(data.subarray(nul + 1)).toString('latin1')];
  if (type === 'zTXt') {
    if (data[nul + 1] !== 0) throw bad('uses an unknown compression method');
    return [keyword, inflate(data.subarray(nul + 2)).toString('latin1')];
  }
  // iTXt: keyword\0 compressionFlag compressionMethod language\0 translatedKeyword\0 text
  if (nul + 3 > data.length) throw bad('is too short');
  const compressed = data[nul + 1] === 1;
  const langEnd = data.indexOf(0, nul + 3);
  const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw bad('is missing its language or translated keyword');
  const body = data.subarray(transEnd + 1);
  return [keyword, (compressed ? inflate(body) : Buffer.from(body)).toString('utf8')];
}

/** Inserts a text chunk right after IHDR (readers such as sharp only see text before IDAT). */
export function withPngText(png: Uint8Array, keyword: string, text: string): Uint8Array {
  if (!isPng(png)) throw new PngMetadataError('not a PNG file (the 8-byte signature is missing)');
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  const latin1 = /^[\u0000-\u00ff]*$/.test(text);
  const key = Buffer.from(keyword, 'latin1');
  const body = latin1
    ? Buffer.concat([key, Buffer.from([0]), Buffer.from(text, 'latin1')])
    : Buffer.concat([key, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]);
  const type = Buffer.from(latin1 ? 'tEXt' : 'iTXt', 'latin1');
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  type.copy(chunk, 4);
  body.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + body.length)), 8 + body.length);
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

/** What the history needs from another tool's metadata. */
export interface ParsedParameters {
  prompt: string;
  negativePrompt: string;
  steps: number | null;
  sampler: string | null;
  guidance: number | null;
  seed: number | null;
  strength: number | null;
  modelName: string | null;
  modelHash: string | null;
  extra: Record<string, string>;
  source: 'a1111' | 'comfyui' | 'invokeai';
}

export interface InfotextFields {
  prompt: string;
  negativePrompt: string;
  params: ReadonlyArray<readonly [string, string | number | null]>;
}

/** A1111 "infotext": prompt, "Negative prompt: …", then one line of "Key: value" pairs. */
export function formatInfotext({ prompt, negativePrompt, params }: InfotextFields): string {
  const quote = (v: string) => (/[,:\n]/.test(v) ? JSON.stringify(v) : v);
  const pairs = params.filter(([, v]) => v !== null && v !== '').map(([k, v]) => `${k}: ${quote(String(v))}`);
  return [prompt, negativePrompt ? `Negative prompt: ${negativePrompt}` : null, pairs.join(', ')]
    .filter((l) => l !== null)
    .join('\n');
}

const PAIR = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

export function parseInfotext(text: string): ParsedParameters {
  const lines = text.trim().split('\n');
  const pairs: Record<string, string> = {};
  const last = lines.at(-1) ?? '';
  const found = [...last.matchAll(PAIR)];
  if (lines.length > 0 && found.length >= 3) {
    lines.pop();
    for (const m of found) {
      const raw = m[2]!.trim();
      let value = raw;
      if (raw.startsWith('"')) {
        try {
          value = JSON.parse(raw) as string;
        } catch {
          value = raw;
        }
      }
      pairs[m[1]!.trim()] = value;
    }
  }
  const promptLines: string[] = [];
  const negLines: string[] = [];
  let inNeg = false;
  for (const line of lines) {
    if (!inNeg && line.startsWith('Negative prompt:')) {
      inNeg = true;
      negLines.push(line.slice('Negative prompt:'.length).trim());
    } else (inNeg ? negLines : promptLines).push(line);
  }
  const take = (k: string) => {
    const v = pairs[k];
    delete pairs[k];
    return v ?? null;
  };
  const num = (v: string | null) => (v === null || !Number.isFinite(Number(v)) ? null : Number(v));
  const result: ParsedParameters = {
    prompt: promptLines.join('\n').trim(),
    negativePrompt: negLines.join('\n').trim(),
    steps: num(take('Steps')),
    sampler: take('Sampler'),
    guidance: num(take('CFG scale')),
    seed: num(take('Seed')),
    strength: num(take('Denoising strength')),
    modelName: take('Model'),
    modelHash: take('Model hash'),
    extra: {},
    source: 'a1111',
  };
  take('Size');
  result.extra = pairs;
  return result;
}

type Json = Record<string, unknown>;
const asRecord = (v: unknown): Json | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);
const str = (v: unknown) => (typeof v === 'string' ? v : null);
const numOrNull = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** ComfyUI's `prompt` chunk: an API graph; take the sampler node and the text encoders it is wired to. */
export function parseComfyPrompt(json: string): ParsedParameters {
  let graph: Json | null;
  try {
    graph = asRecord(JSON.parse(json));
  } catch (err) {
    throw new PngMetadataError(`the ComfyUI "prompt" chunk is not valid JSON (${(err as Error).message})`);
  }
  if (!graph) throw new PngMetadataError('the ComfyUI "prompt" chunk is not a JSON object of nodes');
  const nodes = Object.values(graph).map(asRecord).filter((n): n is Json => n !== null);
  const sampler = nodes.find((n) => /KSampler/.test(String(n.class_type)));
  const inputs = asRecord(sampler?.inputs) ?? {};
  const textOf = (link: unknown): string => {
    if (!Array.isArray(link)) return '';
    const node = asRecord(graph![String(link[0])]);
    return str(asRecord(node?.inputs)?.text) ?? '';
  };
  const ckpt = nodes.find((n) => /CheckpointLoader/.test(String(n.class_type)));
  return {
    prompt: textOf(inputs.positive),
    negativePrompt: textOf(inputs.negative),
    steps: numOrNull(inputs.steps),
    sampler: str(inputs.sampler_name),
    guidance: numOrNull(inputs.cfg),
    seed: numOrNull(inputs.seed ?? inputs.noise_seed),
    strength: numOrNull(inputs.denoise),
    modelName: str(asRecord(ckpt?.inputs)?.ckpt_name),
    modelHash: null,
    extra: str(inputs.scheduler) ? { Scheduler: str(inputs.scheduler)! } : {},
    source: 'comfyui',
  };
}

/** InvokeAI's `invokeai_metadata` chunk. */
export function parseInvokeMetadata(json: string): ParsedParameters {
  let meta: Json | null;
  try {
    meta = asRecord(JSON.parse(json));
  } catch (err) {
    throw new PngMetadataError(`the InvokeAI metadata chunk is not valid JSON (${(err as Error).message})`);
  }
  if (!meta) throw new PngMetadataError('the InvokeAI metadata chunk is not a JSON object');
  const model = asRecord(meta.model);
  return {
    prompt: str(meta.positive_prompt) ?? '',
    negativePrompt: str(meta.negative_prompt) ?? '',
    steps: numOrNull(meta.steps),
    sampler: str(meta.scheduler),
    guidance: numOrNull(meta.cfg_scale),
    seed: numOrNull(meta.seed),
    strength: numOrNull(meta.strength),
    modelName: str(model?.name) ?? str(model?.model_name),
    modelHash: str(model?.hash),
    extra: {},
    source: 'invokeai',
  };
}

/** Generation parameters from whichever tool wrote the PNG, or null when it carries none. */
export function parseToolMetadata(chunks: ReadonlyMap<string, string>): ParsedParameters | null {
  const a1111 = chunks.get('parameters');
  if (a1111 !== undefined) return parseInfotext(a1111);
  const invoke = chunks.get('invokeai_metadata');
  if (invoke !== undefined) return parseInvokeMetadata(invoke);
  const comfy = chunks.get('prompt');
  if (comfy !== undefined) return parseComfyPrompt(comfy);
  return null;
}
