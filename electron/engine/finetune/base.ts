// The model a fine-tuning run starts from, opened through the model families: a model package, an SD
// 1.x / 2.x single file or a diffusers folder. What the run needs of it: the model to encode pictures
// and captions, every weight as float32, its name and sha256 (recorded in the result), its prediction
// type (the training target) and, for word tokenizers, the vocabulary (warnings, textual inversion).
import { openModel, recogniseModel, sha256Files, type Prediction } from '../families/index.ts';
import { loadModelPackage, type ModelManifest } from '../io/model-package.ts';
import { LoadedModel, loadAllWeights, type RuntimeOptions } from '../pipelines/loaded-model.ts';

export interface TrainingBase {
  /** Encodes pictures and captions; a caption is one chunk of the model's tokenizer, cut at its end (as kohya). */
  readonly model: LoadedModel;
  readonly name: string;
  readonly sha256: string;
  readonly prediction: Prediction;
  readonly weights: ReadonlyMap<string, Float32Array>;
  /** The package's manifest; null for files of other layouts (SD files, diffusers folders). */
  readonly manifest: ModelManifest | null;
  /** A word tokenizer's vocabulary (packages); undefined for sub-word (CLIP) tokenizers. */
  readonly vocabulary?: readonly string[];
}

export async function openTrainingBase(file: string, runtime: RuntimeOptions, prediction?: Prediction): Promise<TrainingBase> {
  const recognised = await recogniseModel(file);
  const pkg = recognised.family === 'package' ? await loadModelPackage(file) : null;
  const sha256 = pkg ? pkg.manifest.files.find((f) => f.role === 'weights')!.sha256 : await sha256Files(recognised.files);
  const { model, opened } = await openModel(file, { ...runtime, prediction, hash: sha256.slice(0, 10) });
  const all = pkg ? pkg.weights : await loadAllWeights(model.spec);
  const weights = new Map([...all].map(([k, t]) => [k, (t instanceof Float32Array ? t : t.data) as Float32Array]));
  // Without the sub-word tokenizer, encodeText reads each caption through `tokenize`: one chunk, no prompt syntax.
  const plain = model.spec.textTokenizer ? new LoadedModel({ ...model.spec, textTokenizer: undefined }, runtime) : model;
  if (plain !== model) await model.release();
  return { model: plain, name: opened.name, sha256, prediction: opened.prediction, weights, manifest: pkg?.manifest ?? null, vocabulary: pkg?.manifest.tokenizer?.vocabulary };
}
