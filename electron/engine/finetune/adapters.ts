// Fine-tuning results in generation: LoRA files (kohya safetensors) merged into the base weights at a
// chosen strength, and textual-inversion embeddings appended to the vocabulary and the token table.
// The merge happens once, when the adapted model is built; its sessions are then as fast as the base
// model's. Callers cache the returned model per (base, adapters, strengths), as the worker does.
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import type { TokenizerSpec } from '../io/model-package.ts';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.ts';
import { modelParams } from '../nn/models.ts';
import { LoadedModel, loadAllWeights, type Locate, type ModelSpec, type RuntimeOptions, type TensorSlice, type WeightSource } from '../pipelines/loaded-model.ts';
import { readAllAsFloat32 } from '../pipelines/file-weights.ts';
import { TEXT_PREFIX } from '../nn/text-encoder.ts';
import { tensor, type TensorData } from '../tensor.ts';
import { checkEmbeddingWidth, embeddingFromTensors } from '../io/embeddings.ts';
import { LoraError, loraLayerWeights, mergeLora } from './lora.ts';
import { EMBEDDING_PARAM, extendTokenizer, TOKEN_EMBEDDING, TOKEN_METADATA } from './ti.ts';
import { makeScratchDir } from '../pipelines/weight-cache.ts';

/** An adapter file that cannot be applied to this model: the message names the file and the reason. */
export class AdapterError extends Error {
  override name = 'AdapterError';
}

export interface AdapterUse {
  /** A kohya LoRA .safetensors or an embedding .safetensors (emb_params). */
  readonly file: string;
  /** LoRA: multiplies the update (1 = as trained, 0 = off, negative = away from it). Embedding: scales the vector. */
  readonly strength?: number;
  /** LoRA: the strength on the text encoder's modules (A1111's `<lora:name:te:unet>`); default: `strength`. */
  readonly textStrength?: number;
  /** Embeddings for CLIP prompts: the word that stands for it (default: the file name without extension, as A1111). */
  readonly name?: string;
}

export interface LoadedAdapter {
  readonly kind: 'lora' | 'embedding';
  readonly file: string;
  readonly tensors: Map<string, TensorData>;
  readonly metadata: Record<string, string>;
  /** Embeddings: the word they teach (metadata, else the file name). */
  readonly token: string | null;
}

export async function loadAdapter(file: string): Promise<LoadedAdapter> {
  const { tensors, metadata } = await loadSafetensors(file);
  if (tensors.has(EMBEDDING_PARAM) || tensors.has('string_to_param.*') || (tensors.size === 1 && ![...tensors.keys()][0]!.includes('lora_'))) {
    const token = (metadata[TOKEN_METADATA] ?? path.basename(file, path.extname(file))).toLowerCase();
    return { kind: 'embedding', file, tensors, metadata, token };
  }
  if ([...tensors.keys()].some((k) => k.endsWith('.lora_down.weight'))) return { kind: 'lora', file, tensors, metadata, token: null };
  throw new AdapterError(`${path.basename(file)} is neither a LoRA (lora_down/lora_up tensors) nor an embedding (emb_params)`);
}

/** The weights of a model as float32 arrays we may change. */
export async function ownWeights(spec: ModelSpec): Promise<Map<string, Float32Array>> {
  const src: ReadonlyMap<string, TensorData | Float32Array> = await loadAllWeights(spec);
  const out = new Map<string, Float32Array>();
  for (const [k, t] of src) {
    const d = t instanceof Float32Array ? t : t.data;
    out.set(k, d instanceof Float32Array && spec.weights.kind === 'package' ? d : Float32Array.from(d as ArrayLike<number>));
  }
  return out;
}

export interface AdaptOptions extends RuntimeOptions {
  /** The base model's tokenizer spec (read from its package when the weights come from one). */
  readonly tokenizer?: TokenizerSpec;
}

/** A new model: `base` with every adapter file applied in order. `base` itself is left unchanged. */
export async function withAdapters(base: LoadedModel, adapters: readonly AdapterUse[], o: AdaptOptions = {}): Promise<LoadedModel> {
  if (adapters.length === 0) return base;
  const loaded: AppliedAdapter[] = [];
  for (const a of adapters) loaded.push({ adapter: await loadAdapter(a.file), strength: a.strength ?? 1, textStrength: a.textStrength, name: a.name });
  if (base.spec.weights.kind === 'files' && base.spec.textTokenizer) {
    // SD files: embeddings are spliced into prompts; LoRAs change only the layers they name (a small
    // temporary file beside the model's own), so no copy of the whole model is made.
    const spec = adaptSpec(base.spec, null, loaded.filter((a) => a.adapter.kind === 'embedding'), o.tokenizer);
    const loras = loaded.filter((a) => a.adapter.kind === 'lora');
    return new LoadedModel(loras.length ? { ...spec, weights: await mergeIntoFiles(base.spec, loras) } : spec, o);
  }
  // Embeddings for a sub-word (CLIP) tokenizer leave the weights alone: only LoRAs and word-tokenizer embeddings need a copy.
  const needsWeights = loaded.some((a) => a.adapter.kind === 'lora' || !base.spec.textTokenizer);
  return new LoadedModel(adaptSpec(base.spec, needsWeights ? await ownWeights(base.spec) : null, loaded, o.tokenizer), o);
}

/** The adaptable layers of a model: those with a `.weight` of rank ≥ 2. */
function adaptableLayers(spec: ModelSpec): string[] {
  return [...modelParams({ unet: spec.unet, textEncoder: spec.textEncoder })]
    .filter(([k, p]) => k.endsWith('.weight') && p.shape.length >= 2)
    .map(([k]) => k.slice(0, -'.weight'.length));
}

function mergeOne(weights: Map<string, Float32Array>, a: AppliedAdapter, spec: ModelSpec, layers: readonly string[]): void {
  const name = path.basename(a.adapter.file);
  if (!Number.isFinite(a.strength)) throw new AdapterError(`adapter ${name}: strength must be a number, got ${a.strength}`);
  try {
    mergeLora(weights, a.adapter.tensors, a.strength, spec.unet, layers, { textStrength: a.textStrength, textLayers: spec.textEncoder.layers });
  } catch (err) {
    if (err instanceof LoraError) throw new AdapterError(`LoRA ${name}: ${err.message}`);
    throw err;
  }
}

/**
 * LoRAs on weights in files (SD single files, diffusers folders): the layers they change are read,
 * merged and written to a temporary safetensors file (removed when the process exits); every other
 * weight is still read from the model's own files.
 */
async function mergeIntoFiles(spec: ModelSpec, loras: readonly AppliedAdapter[]): Promise<WeightSource> {
  const w = spec.weights;
  if (w.kind !== 'files') throw new AdapterError('mergeIntoFiles needs file weights');
  const params = modelParams({ unet: spec.unet, textEncoder: spec.textEncoder });
  const layers = adaptableLayers(spec);
  const needed = new Set(loras.flatMap((a) => loraLayerWeights(a.adapter.tensors, spec.unet, layers)));
  const slices = new Map<string, TensorSlice>();
  for (const n of needed) {
    const s = w.networks[n.startsWith(`${TEXT_PREFIX}.`) ? 'textEncoder' : 'unet'](n);
    if (!s) throw new AdapterError(`the model's files have no weight for ${n}`);
    slices.set(n, s);
  }
  const weights = await readAllAsFloat32(slices);
  for (const a of loras) mergeOne(weights, a, spec, layers);
  const dir = await makeScratchDir('ldm-lora-');
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'merged.safetensors');
  await saveSafetensors(file, new Map([...weights].map(([k, v]) => [k, tensor('float32', params.get(k)!.shape, v)])));
  const entries = new Map((await readSafetensorsHeader(file)).entries.map((e) => [e.name, e]));
  const over = (own: Locate): Locate => (name) => {
    const e = entries.get(name);
    return e ? { file, entry: e, start: 0, length: e.length } : own(name);
  };
  return { kind: 'files', networks: { ...w.networks, unet: over(w.networks.unet), textEncoder: over(w.networks.textEncoder) } };
}

export interface AppliedAdapter {
  readonly adapter: LoadedAdapter;
  readonly strength: number;
  readonly textStrength?: number;
  readonly name?: string;
}

/**
 * The spec of `spec`'s model with adapters applied to `weights` (changed in place; they become the
 * spec's in-memory weights; null when only sub-word-tokenizer embeddings are applied). With a word
 * tokenizer, embeddings grow the vocabulary, the token table and the tokenizer; with a sub-word (CLIP)
 * tokenizer they join the spec's embeddings, spliced in where a prompt names them (A1111).
 */
export function adaptSpec(
  spec: ModelSpec,
  weights: Map<string, Float32Array> | null,
  adapters: readonly AppliedAdapter[],
  tokenizer?: TokenizerSpec,
): ModelSpec {
  const layers = adaptableLayers(spec);
  const words: string[] = [];
  const vectors: Float32Array[] = [];
  const clipEmbeddings = new Map(spec.embeddings ?? []);
  const needWeights = (): Map<string, Float32Array> => {
    if (!weights) throw new AdapterError('LoRAs and word-tokenizer embeddings need the model weights');
    return weights;
  };
  for (const { adapter: ad, strength, textStrength, name: word } of adapters) {
    const name = path.basename(ad.file);
    if (!Number.isFinite(strength)) throw new AdapterError(`adapter ${name}: strength must be a number, got ${strength}`);
    if (ad.kind === 'lora') {
      mergeOne(needWeights(), { adapter: ad, strength, textStrength }, spec, layers);
      continue;
    }
    if (spec.textTokenizer) {
      const e = checkEmbeddingWidth(embeddingFromTensors(word ?? path.basename(ad.file, path.extname(ad.file)), ad.tensors, ad.file), spec.textEncoder.width, ad.file);
      clipEmbeddings.set(e.name, { ...e, data: e.data.map((v) => v * strength) });
      continue;
    }
    const e = ad.tensors.get(EMBEDDING_PARAM)!;
    const width = spec.textEncoder.width;
    if (e.shape.length !== 2 || e.shape[1] !== width) {
      throw new AdapterError(`${name}: emb_params is [${e.shape.join(', ')}]; this model's text encoder needs [n, ${width}]`);
    }
    if (e.shape[0] !== 1) throw new AdapterError(`${name}: embeddings of ${e.shape[0]} vectors are not supported; one word, one vector`);
    words.push(ad.token!);
    vectors.push(Float32Array.from(e.data as Float32Array, (v) => v * strength));
  }
  let { textEncoder, tokenize } = spec;
  const embeddings = clipEmbeddings.size > 0 ? { embeddings: clipEmbeddings } : {};
  if (!weights) return { ...spec, ...embeddings };
  if (words.length > 0) {
    const tokSpec = tokenizer ?? (spec.weights.kind === 'package' ? spec.weights.pkg.manifest.tokenizer : undefined);
    if (!tokSpec) throw new AdapterError("embeddings need the base model's word tokenizer spec; pass it as the tokenizer option");
    const tok = extendTokenizer(tokSpec, words);
    const table = weights.get(TOKEN_EMBEDDING);
    if (!table) throw new AdapterError(`the model has no ${TOKEN_EMBEDDING}`);
    const grown = new Float32Array(table.length + words.length * textEncoder.width);
    grown.set(table);
    vectors.forEach((v, i) => grown.set(v, table.length + i * textEncoder.width));
    weights.set(TOKEN_EMBEDDING, grown);
    textEncoder = { ...textEncoder, vocabSize: textEncoder.vocabSize + words.length };
    tokenize = (text) => tok.encode(text);
  }
  // The adapted model keeps the base's name and hash: A1111 records LoRAs beside the model hash.
  return { ...spec, ...embeddings, textEncoder, tokenize, weights: { kind: 'memory', tensors: weights } };
}
