// The model a fine-tuning run starts from, opened through the model families: a model package, an SD
// 1.x / 2.x single file or a diffusers folder. What the run needs of it: the model to encode pictures
// and captions, its weights by name, its name and sha256 (recorded in the result), its prediction type
// (the training target) and, for word tokenizers, the vocabulary (warnings, textual inversion).
//
// The weights of a file-backed base are not held: `weights` reads a tensor (widened to float32) only when
// asked for one, and the frozen UNet reaches onnxruntime as external data (`frozenUNet`: the file itself
// when it is float32, else widened once into the weights cache), so an SD 1.x base costs no 4 GB JS copy.
import { closeSync, openSync, readSync } from 'node:fs';
import { openModel, recogniseModel, sha256Files, type Prediction } from '../families/index.ts';
import { loadModelPackage, type ModelManifest } from '../io/model-package.ts';
import { modelParams } from '../nn/models.ts';
import { LoadedModel, loadAllWeights, type RuntimeOptions } from '../pipelines/loaded-model.ts';
import { locateAll, resolveFileWeights, widenSlice, type ResolvedWeights, type TensorSlice } from '../pipelines/file-weights.ts';
import { FinetuneError } from './errors.ts';

export interface TrainingBase {
  /** Encodes pictures and captions; a caption is one chunk of the model's tokenizer, cut at its end (as kohya). */
  readonly model: LoadedModel;
  readonly name: string;
  readonly sha256: string;
  readonly prediction: Prediction;
  /** Every weight by name, as float32 (for file-backed bases read from the file on each get). */
  readonly weights: ReadonlyMap<string, Float32Array>;
  /**
   * For file-backed bases: the UNet's weights as onnxruntime external data, for a training graph whose
   * frozen params stay params (Trainer `frozen`, session `weightsFile`). Null for packages.
   */
  readonly frozenUNet: (() => Promise<ResolvedWeights>) | null;
  /** The package's manifest; null for files of other layouts (SD files, diffusers folders). */
  readonly manifest: ModelManifest | null;
  /** A word tokenizer's vocabulary (packages); undefined for sub-word (CLIP) tokenizers. */
  readonly vocabulary?: readonly string[];
}

export interface BaseKnown {
  /** The file's sha256 when the model registry already has it (hashing an SD file takes seconds to minutes). */
  readonly sha256?: string;
}

export async function openTrainingBase(file: string, runtime: RuntimeOptions, prediction?: Prediction, known: BaseKnown = {}): Promise<TrainingBase> {
  const recognised = await recogniseModel(file);
  const pkg = recognised.family === 'package' ? await loadModelPackage(file) : null;
  const sha256 = pkg ? pkg.manifest.files.find((f) => f.role === 'weights')!.sha256 : known.sha256 ?? await sha256Files(recognised.files);
  const { model, opened } = await openModel(file, { ...runtime, prediction, hash: sha256.slice(0, 10) });
  const source = model.spec.weights;
  let weights: ReadonlyMap<string, Float32Array>;
  let frozenUNet: TrainingBase['frozenUNet'] = null;
  if (source.kind === 'files') {
    const spec = model.spec;
    const slices = new Map<string, TensorSlice>();
    for (const net of ['autoencoder', 'textEncoder', 'unet'] as const) {
      for (const [k, s] of locateAll(spec.name, modelParams({ [net]: spec[net] }), source.networks[net], net)) slices.set(k, s);
    }
    weights = new FileWeights(slices);
    frozenUNet = () => resolveFileWeights(spec.name, modelParams({ unet: spec.unet }), source.networks.unet, 'unet', runtime.weightCache);
  } else {
    const all = pkg ? pkg.weights : await loadAllWeights(model.spec);
    weights = new Map([...all].map(([k, t]) => [k, (t instanceof Float32Array ? t : t.data) as Float32Array]));
  }
  // Without the sub-word tokenizer, encodeText reads each caption through `tokenize`: one chunk, no prompt syntax.
  const plain = model.spec.textTokenizer ? new LoadedModel({ ...model.spec, textTokenizer: undefined }, runtime) : model;
  if (plain !== model) await model.release();
  return { model: plain, name: opened.name, sha256, prediction: opened.prediction, weights, frozenUNet, manifest: pkg?.manifest ?? null, vocabulary: pkg?.manifest.tokenizer?.vocabulary };
}

/** A file-backed base's weights by name: each get reads its bytes and widens them to float32; nothing is kept. */
class FileWeights implements ReadonlyMap<string, Float32Array> {
  constructor(private readonly slices: ReadonlyMap<string, TensorSlice>) {}

  get size(): number {
    return this.slices.size;
  }

  has(name: string): boolean {
    return this.slices.has(name);
  }

  get(name: string): Float32Array | undefined {
    const s = this.slices.get(name);
    return s && readSlice(s);
  }

  *entries(): MapIterator<[string, Float32Array]> {
    for (const [k, s] of this.slices) yield [k, readSlice(s)];
  }

  *keys(): MapIterator<string> {
    yield* this.slices.keys();
  }

  *values(): MapIterator<Float32Array> {
    for (const s of this.slices.values()) yield readSlice(s);
  }

  [Symbol.iterator](): MapIterator<[string, Float32Array]> {
    return this.entries();
  }

  forEach(fn: (value: Float32Array, key: string, map: ReadonlyMap<string, Float32Array>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}

function readSlice(s: TensorSlice): Float32Array {
  const raw = new Uint8Array(s.length);
  const fd = openSync(s.file, 'r');
  try {
    if (readSync(fd, raw, 0, s.length, s.entry.offset + s.start) !== s.length) throw new FinetuneError(`${s.file}: the file ends inside tensor ${s.entry.name}; it is truncated`);
  } finally {
    closeSync(fd);
  }
  return widenSlice(raw, s);
}
