// The emoji classifier's network: a small CNN on 32² RGB in [-1, 1] whose penultimate layer (global
// average pool of the last convolution) is the feature space of `ldm eval`'s FID/KID/precision/recall,
// as Inception's pool3 is for FID. Built on the Graph builder so the engine's own trainer trains it
// (scripts/embedded/train-classifier.ts) and onnxruntime runs it (classifier.ts).
import { attr, Graph, type Value } from '../onnx/graph.ts';
import { conv2d, groupNorm, linear } from '../nn/layers.ts';
import type { LossGraph } from '../nn/losses.ts';

export interface ClassifierArch {
  /** Input side in pixels (square). */
  imageSize: number;
  /** Channels of the stem, then of each stride-2 stage (each stage: strided conv + conv). */
  widths: number[];
  /** Channels of the last (stride-2) convolution: the feature dimension. */
  featureDim: number;
  /** GroupNorm groups after every convolution. */
  groups: number;
  classes: number;
}

const EPS = 1e-5;

function convNormAct(g: Graph, a: ClassifierArch, name: string, x: Value, cin: number, cout: number, stride: number): Value {
  const y = conv2d(g, `${name}.conv`, x, cin, cout, { kernel: 3, stride, padding: 1 });
  return g.silu(groupNorm(g, `${name}.norm`, y, a.groups, EPS));
}

/** image [B, 3, S, S] → features [B, featureDim] (penultimate) and logits [B, classes]. */
export function classifierForward(g: Graph, a: ClassifierArch, image: Value): { features: Value; logits: Value } {
  const [stem, ...stages] = a.widths;
  let h = convNormAct(g, a, 'stem', image, 3, stem!, 1);
  let c = stem!;
  stages.forEach((w, i) => {
    h = convNormAct(g, a, `stages.${i}.down`, h, c, w, 2);
    h = convNormAct(g, a, `stages.${i}.conv`, h, w, w, 1);
    c = w;
  });
  h = convNormAct(g, a, 'head', h, c, a.featureDim, 2);
  const features = g.reduceMean(h, [2, 3], false);
  const logits = linear(g, 'fc', features, a.featureDim, a.classes);
  return { features, logits };
}

/** Inference graph: input `image` [batch, 3, S, S]; outputs `features` and `logits`. */
export function buildClassifierGraph(a: ClassifierArch, batch: number): Graph {
  const g = new Graph('emoji_classifier');
  const image = g.input('image', 'float32', [batch, 3, a.imageSize, a.imageSize]);
  const { features, logits } = classifierForward(g, a, image);
  g.output(features, 'features');
  g.output(logits, 'logits');
  return g;
}

/**
 * Training loss: cross-entropy against `target` [B, classes] (one-hot, or smoothed labels), averaged
 * over the batch. Inputs `image` and `target`.
 */
export function buildClassifierLossGraph(a: ClassifierArch, batch: number): LossGraph {
  const g = new Graph('emoji_classifier_loss');
  const image = g.input('image', 'float32', [batch, 3, a.imageSize, a.imageSize]);
  const target = g.input('target', 'float32', [batch, a.classes]);
  const { logits } = classifierForward(g, a, image);
  const logp = g.emit('LogSoftmax', [logits], { axis: attr.int(1) }, [{ dtype: 'float32', shape: logits.shape }])[0]!;
  const loss = g.output(g.div(g.neg(g.reduceSum(g.mul(logp, target), [0, 1], false)), batch), 'loss');
  return { graph: g, loss, metrics: {}, stopGradient: [] };
}
