// The shipped emoji classifier (resources/models/emoji-classifier/) and its held-out emoji set: the
// judge of `ldm eval` and of any experiment that asks "does this picture show that kind of emoji?".
//
// Usage (any engine, CLI, bench or test code):
//
//   import { loadEmojiClassifier, loadHeldOutEmoji } from '../engine/eval/classifier.ts';
//   const clf = await loadEmojiClassifier();            // default: resources/models/emoji-classifier
//   clf.classes;                                         // ['alphanum', 'animal amphibian', …] (emoji subcategories)
//   clf.classIndex('animal mammal');                     // index into classes, or -1
//   const preds = await clf.classify(images);            // images: RgbImage[] (32², or 64²/128²… area-averaged)
//   preds[0].label, preds[0].index, preds[0].probability, preds[0].probabilities (Float32Array, per class)
//   const feats = await clf.features(images);           // Float64Array, [images.length × clf.featureDim], row-major
//   await clf.close();
//
//   const held = await loadHeldOutEmoji();               // the held-out concepts (never trained on): images,
//   held.images, held.captions, held.labels              // captions as the embedded model's, class indices
//
// Class names are the emoji-datasource subcategories with '-' as ' ' (as in the embedded model's captions,
// "<name>, <subcategory>[, <tone> skin tone]"). The classifier saw only the training split; the held-out
// set is split by concept (scripts/embedded/emoji-dataset.ts), so its accuracy there is generalisation to
// unseen emoji of known kinds.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../io/safetensors.ts';
import { toModelProto } from '../onnx/serialize.ts';
import { createSession, type Session } from '../onnx/runtime.ts';
import { downsampleArea, type RgbImage } from '../pipelines/image.ts';
import { buildClassifierGraph, type ClassifierArch } from './classifier-net.ts';

export const CLASSIFIER_FORMAT = 'ldm-studio-classifier/1';
export const CLASSIFIER_JSON = 'classifier.json';
export const CLASSIFIER_WEIGHTS = 'classifier.safetensors';
export const HELD_OUT_JSON = 'heldout.json';
export const HELD_OUT_PIXELS = 'heldout.rgb';

export class ClassifierError extends Error {
  override name = 'ClassifierError';
}

/** classifier.json */
export interface ClassifierManifest {
  format: typeof CLASSIFIER_FORMAT;
  arch: ClassifierArch;
  classes: string[];
  /** What it was measured at when packaged (the card says how). */
  heldOutAccuracy?: number;
  heldOutTop5?: number;
  trainAccuracy?: number;
  steps?: number;
  cpuMinutes?: number;
}

/** heldout.json; the pixels are heldout.rgb: count × size × size × 3 bytes, RGB interleaved, row-major. */
export interface HeldOutManifest {
  size: number;
  samples: { caption: string; concept: string; label: string }[];
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
  probabilities: Float32Array;
}

/** resources/models/emoji-classifier of this checkout or installation (LDM_MODELS_DIR overrides resources/models). */
export function defaultClassifierDir(): string {
  const models = process.env.LDM_MODELS_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../resources/models');
  return path.join(models, 'emoji-classifier');
}

async function readJson<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new ClassifierError(`${what} not found: ${file} is missing (the emoji classifier ships in resources/models/emoji-classifier; \`npm run train:default -- --stage classifier\` rebuilds it)`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ClassifierError(`${file} is not valid JSON (${(err as Error).message}); restore it from git or rebuild with --stage classifier`);
  }
}

/** The class of a caption "<name>, <subcategory>[, …]" whose concept is `concept`. */
export function subcategoryOf(caption: string, concept: string): string {
  if (!caption.startsWith(`${concept}, `)) throw new ClassifierError(`caption '${caption}' does not start with its concept '${concept}'`);
  return caption.slice(concept.length + 2).split(', ')[0]!;
}

/** An RGB picture as [3, size, size] in [-1, 1] at offset `at` of `out`; integer multiples of size are area-averaged. */
export function pictureToInput(img: RgbImage, size: number, out: Float32Array, at: number): void {
  const f = img.width / size;
  if (img.width !== img.height || !Number.isInteger(f) || f < 1) {
    throw new ClassifierError(`the classifier takes square pictures of ${size}² or a whole multiple of it; got ${img.width}×${img.height}`);
  }
  const plane = img.width * img.height;
  const chw = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) chw[c * plane + p] = img.data[p * 3 + c]! / 127.5 - 1;
  }
  out.set(f === 1 ? chw : downsampleArea(chw, 3, img.height, img.width, f), at);
}

export class EmojiClassifier {
  readonly featureDim: number;
  readonly imageSize: number;
  private readonly index: Map<string, number>;

  private constructor(
    readonly manifest: ClassifierManifest,
    private readonly session: Session,
    private readonly batch: number,
  ) {
    this.featureDim = manifest.arch.featureDim;
    this.imageSize = manifest.arch.imageSize;
    this.index = new Map(manifest.classes.map((c, i) => [c, i]));
  }

  get classes(): readonly string[] {
    return this.manifest.classes;
  }

  /** Index of a class name (a subcategory, '-' or ' ' between words), or -1. */
  classIndex(name: string): number {
    return this.index.get(name.replace(/-/g, ' ')) ?? -1;
  }

  static async load(dir = defaultClassifierDir(), opts: { threads?: number; batch?: number } = {}): Promise<EmojiClassifier> {
    const manifest = await readJson<ClassifierManifest>(path.join(dir, CLASSIFIER_JSON), 'the emoji classifier');
    if (manifest.format !== CLASSIFIER_FORMAT) {
      throw new ClassifierError(`${path.join(dir, CLASSIFIER_JSON)}: format '${String(manifest.format)}' is not ${CLASSIFIER_FORMAT}`);
    }
    const file = path.join(dir, CLASSIFIER_WEIGHTS);
    let weights;
    try {
      weights = (await loadSafetensors(file)).tensors;
    } catch (err) {
      throw new ClassifierError(`the emoji classifier's weights could not be read from ${file}: ${(err as Error).message}`);
    }
    const batch = opts.batch ?? 32;
    const g = buildClassifierGraph(manifest.arch, batch);
    for (const [name, p] of g.params) {
      const t = weights.get(name);
      if (!t || t.shape.join() !== p.shape.join()) {
        throw new ClassifierError(`${file}: ${t ? `'${name}' is [${t.shape.join(', ')}], the network needs [${p.shape.join(', ')}]` : `'${name}' is missing`}; rebuild with --stage classifier`);
      }
    }
    const session = await createSession(toModelProto(g, { kind: 'embedded', get: (name) => weights.get(name)! }), { threads: opts.threads ?? 1, provider: 'cpu' });
    return new EmojiClassifier(manifest, session, batch);
  }

  /** Features (penultimate layer) and logits of each picture. */
  async run(images: readonly RgbImage[]): Promise<{ features: Float32Array; logits: Float32Array }> {
    const { imageSize: s, featureDim: d, batch } = this;
    const k = this.classes.length;
    const n = 3 * s * s;
    const features = new Float32Array(images.length * d);
    const logits = new Float32Array(images.length * k);
    for (let start = 0; start < images.length; start += batch) {
      const x = new Float32Array(batch * n);
      const m = Math.min(batch, images.length - start);
      for (let i = 0; i < m; i++) pictureToInput(images[start + i]!, s, x, i * n);
      const out = await this.session.run({ image: { dtype: 'float32', shape: [batch, 3, s, s], data: x } });
      features.set((out.features!.data as Float32Array).subarray(0, m * d), start * d);
      logits.set((out.logits!.data as Float32Array).subarray(0, m * k), start * k);
    }
    return { features, logits };
  }

  /** The penultimate-layer features, float64 (for FID/KID), [images.length × featureDim] row-major. */
  async features(images: readonly RgbImage[]): Promise<Float64Array> {
    return Float64Array.from((await this.run(images)).features);
  }

  /** The most likely class of each picture, with the softmax over all classes. */
  async classify(images: readonly RgbImage[]): Promise<Prediction[]> {
    return predictionsFromLogits((await this.run(images)).logits, this.classes);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

export function predictionsFromLogits(logits: Float32Array, classes: readonly string[]): Prediction[] {
  const k = classes.length;
  const out: Prediction[] = [];
  for (let i = 0; i < logits.length / k; i++) {
    const row = logits.subarray(i * k, (i + 1) * k);
    let best = 0;
    for (let j = 1; j < k; j++) if (row[j]! > row[best]!) best = j;
    const p = new Float32Array(k);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[j] = Math.exp(row[j]! - row[best]!);
    for (let j = 0; j < k; j++) p[j]! /= sum;
    out.push({ index: best, label: classes[best]!, probability: p[best]!, probabilities: p });
  }
  return out;
}

/** Loads the shipped emoji classifier (see the usage at the top of this file). */
export function loadEmojiClassifier(dir?: string, opts?: { threads?: number; batch?: number }): Promise<EmojiClassifier> {
  return EmojiClassifier.load(dir, opts);
}

export interface HeldOutEmoji {
  size: number;
  images: RgbImage[];
  captions: string[];
  concepts: string[];
  /** Class name of each picture (its subcategory). */
  labels: string[];
}

/** The held-out emoji (concepts never trained on by the embedded models or the classifier), shipped beside the classifier. */
export async function loadHeldOutEmoji(dir = defaultClassifierDir()): Promise<HeldOutEmoji> {
  const meta = await readJson<HeldOutManifest>(path.join(dir, HELD_OUT_JSON), 'the held-out emoji set');
  const file = path.join(dir, HELD_OUT_PIXELS);
  const bytes = await fsp.readFile(file).catch(() => {
    throw new ClassifierError(`the held-out emoji pictures are missing: ${file} (rebuild with \`npm run train:default -- --stage classifier\`)`);
  });
  const per = meta.size * meta.size * 3;
  if (bytes.length !== per * meta.samples.length) {
    throw new ClassifierError(`${file} holds ${bytes.length} bytes, ${meta.samples.length} pictures of ${meta.size}² need ${per * meta.samples.length}`);
  }
  const images = meta.samples.map((_, i) => ({ width: meta.size, height: meta.size, data: new Uint8Array(bytes.buffer, bytes.byteOffset + i * per, per) }));
  return {
    size: meta.size,
    images,
    captions: meta.samples.map((s) => s.caption),
    concepts: meta.samples.map((s) => s.concept),
    labels: meta.samples.map((s) => s.label),
  };
}
