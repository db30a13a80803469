// A generative model measured against the held-out emoji: samples made by the studio's own txt2img
// pipeline, then FID, KID and precision/recall in the emoji classifier's penultimate features, and prompt
// fidelity (the classifier's top-1 accuracy on samples made for a known subcategory). Used by `ldm eval`
// and by training scripts that compare models.
import { txt2img } from '../pipelines/txt2img.ts';
import type { RgbImage } from '../pipelines/image.ts';
import type { DiffusionModel } from '../pipelines/model.ts';
import { predictionsFromLogits, type EmojiClassifier, type HeldOutEmoji } from './classifier.ts';
import { featureSet, fid, kid, MetricsError, precisionRecall } from './metrics.ts';

export interface EvalPrompts {
  /** Sample i uses prompts[i mod length] (a caption, a class name, or '' for unconditional models). */
  prompts: string[];
  /** The classifier class each prompt asks for, or null where it names none the classifier knows. */
  labels: (string | null)[];
}

export interface EvalOptions extends EvalPrompts {
  n: number;
  /** Sample i uses seed + i. */
  seed: number;
  steps?: number;
  sampler?: string;
  guidance?: number;
  signal?: AbortSignal;
  /** After each sample. */
  onSample?: (done: number, n: number) => void;
}

export interface EvalResult {
  n: number;
  /** Size of the real (held-out) set. */
  reference: number;
  featureDim: number;
  fid: number;
  /** clean-fid's KID (100 subsets of min(n, reference, 1000)); often quoted × 10³. */
  kid: number;
  precision: number;
  recall: number;
  /** The classifier's top-1 accuracy on samples whose prompt names a class it knows; null when none does. */
  promptFidelity: { correct: number; total: number; accuracy: number } | null;
  /** The same classifier on the real held-out pictures: the ceiling prompt fidelity is read against. */
  referenceAccuracy: number;
  samplingSeconds: number;
  metricSeconds: number;
}

/** Held-out captions as prompts, each labelled with its subcategory (text-to-image models). */
export function heldOutCaptionPrompts(held: HeldOutEmoji): EvalPrompts {
  return { prompts: [...held.captions], labels: [...held.labels] };
}

/** Class names as prompts (class-conditional models), labelled where the classifier knows the class. */
export function classPrompts(classNames: readonly string[], clf: EmojiClassifier): EvalPrompts {
  return { prompts: [...classNames], labels: classNames.map((c) => (clf.classIndex(c) >= 0 ? clf.classes[clf.classIndex(c)]! : null)) };
}

/** Draws opts.n samples from the model, one at a time through txt2img. */
export async function sampleForEval(model: DiffusionModel, o: EvalOptions): Promise<RgbImage[]> {
  if (o.prompts.length === 0) throw new MetricsError('no prompts to sample');
  const images: RgbImage[] = [];
  for (let i = 0; i < o.n; i++) {
    const [made] = await txt2img(model, {
      prompt: o.prompts[i % o.prompts.length]!,
      seed: o.seed + i,
      steps: o.steps,
      sampler: o.sampler,
      guidance: o.guidance,
      batchCount: 1,
      previewEvery: 0,
      signal: o.signal,
    });
    images.push(made!.image);
    o.onSample?.(i + 1, o.n);
  }
  return images;
}

/** Metrics of already-made samples (sample i made for prompt/label i mod length) against the held-out set. */
export async function measureSamples(samples: readonly RgbImage[], labels: readonly (string | null)[], clf: EmojiClassifier, held: HeldOutEmoji): Promise<Omit<EvalResult, 'samplingSeconds'>> {
  const t0 = performance.now();
  if (samples.length < 4) throw new MetricsError(`evaluation needs at least 4 samples, got ${samples.length}`);
  const real = await clf.run(held.images);
  const fake = await clf.run(samples);
  const d = clf.featureDim;
  const r = featureSet(real.features, d);
  const g = featureSet(fake.features, d);
  const realPreds = predictionsFromLogits(real.logits, clf.classes);
  const referenceAccuracy = realPreds.filter((p, i) => p.label === held.labels[i]).length / held.images.length;
  const preds = predictionsFromLogits(fake.logits, clf.classes);
  let correct = 0;
  let total = 0;
  preds.forEach((p, i) => {
    const want = labels[i % labels.length];
    if (want === null || want === undefined) return;
    total++;
    if (p.label === want) correct++;
  });
  const pr = precisionRecall(r, g);
  return {
    n: samples.length,
    reference: held.images.length,
    featureDim: d,
    fid: fid(r, g),
    kid: kid(r, g, { seed: 0 }),
    precision: pr.precision,
    recall: pr.recall,
    promptFidelity: total ? { correct, total, accuracy: correct / total } : null,
    referenceAccuracy,
    metricSeconds: (performance.now() - t0) / 1000,
  };
}

/** Samples the model and measures the samples (see EvalResult). */
export async function evaluateModel(model: DiffusionModel, clf: EmojiClassifier, held: HeldOutEmoji, o: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const samples = await sampleForEval(model, o);
  const samplingSeconds = (performance.now() - t0) / 1000;
  return { ...(await measureSamples(samples, o.labels, clf, held)), samplingSeconds };
}
