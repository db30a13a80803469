// Gradients of Conv and ConvTranspose. Each has a general form that covers every group, stride,
// padding and dilation, and faster forms for the common cases, chosen by measurement
// (bench/autodiff.bench.ts): onnxruntime's CPU Conv is slow with the huge kernels of the textbook
// weight gradient Conv(Xᵀ, dYᵀ), fast as a plain Conv for the input gradient, and MatMul is fastest of all.
import type { Graph, Node, Value } from '../onnx/graph.ts';
import { AutodiffError, intAttr, intsAttr, pad, stringAttr } from './util.ts';

export interface ConvForms {
  /** dX of Conv: ConvTranspose(dY, W), or a plain Conv of dY with the flipped, transposed kernel (stride 1). */
  inputGrad?: 'auto' | 'convTranspose' | 'conv';
  /**
   * dW of Conv: Conv(Xᵀ, dYᵀ) (any conv); im2col by Pad+Slice+Concat then one GEMM; or im2col by a
   * depthwise Conv with a one-hot kernel then a batched MatMul. im2col forms: 2-D, group 1.
   */
  weightGrad?: 'auto' | 'conv' | 'im2col' | 'im2colTaps' | 'im2colConv';
}

export interface ConvGeometry {
  readonly rank: number; // spatial rank
  readonly kernel: number[];
  readonly strides: number[];
  readonly pads: number[]; // begins, then ends
  readonly dilations: number[];
  readonly group: number;
}

export function convGeometry(node: Node, w: Value): ConvGeometry {
  const rank = w.shape.length - 2;
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET') throw new AutodiffError(`${node.op} node '${node.name}': auto_pad=${autoPad} is not supported, give explicit pads`);
  if (node.attrs.output_shape) throw new AutodiffError(`${node.op} node '${node.name}': output_shape is not supported, give pads`);
  const ones = new Array<number>(rank).fill(1);
  return {
    rank,
    kernel: w.shape.slice(2),
    strides: intsAttr(node, 'strides') ?? ones,
    pads: intsAttr(node, 'pads') ?? new Array<number>(2 * rank).fill(0),
    dilations: intsAttr(node, 'dilations') ?? ones,
    group: intAttr(node, 'group', 1),
  };
}

/** Below this many input channels the GEMM-per-row forms get too thin (bench/autodiff.bench.ts). */
const MIN_TAP_CHANNELS = 16;

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

export function convGradients(g: Graph, node: Node, x: Value, w: Value, b: Value | null, dy: Value,
  needs: (i: number) => boolean, forms: ConvForms = {}): (Value | null)[] {
  const geo = convGeometry(node, w);
  return [
    needs(0) ? convInputGrad(g, dy, w, geo, x.shape.slice(2), forms.inputGrad ?? 'auto') : null,
    needs(1) ? convWeightGrad(g, x, dy, geo, forms.weightGrad ?? 'auto') : null,
    b && needs(2) ? biasGrad(g, dy) : null,
  ];
}

/** ConvTranspose is the adjoint of Conv: its gradients are a Conv (dX) and a conv weight gradient with the roles swapped. */
export function convTransposeGradients(g: Graph, node: Node, x: Value, w: Value, b: Value | null, dy: Value,
  needs: (i: number) => boolean, forms: ConvForms = {}): (Value | null)[] {
  const geo = convGeometry(node, w);
  const { strides, pads, dilations, group } = geo;
  return [
    needs(0) ? g.conv(dy, w, undefined, { strides, pads, dilations, group }) : null,
    needs(1) ? convWeightGrad(g, dy, x, geo, forms.weightGrad ?? 'auto') : null,
    b && needs(2) ? biasGrad(g, dy) : null,
  ];
}

function biasGrad(g: Graph, dy: Value): Value {
  return g.reduceSum(dy, [0, ...range(dy.shape.length - 2, 2)], false);
}

// ------------------------------------------------------------------ input gradient

export function convInputGrad(g: Graph, dy: Value, w: Value, geo: ConvGeometry, spatial: readonly number[],
  form: NonNullable<ConvForms['inputGrad']>): Value {
  const { rank, kernel, strides, pads, dilations } = geo;
  const flippedPads = pads.map((p, i) => dilations[i % rank]! * (kernel[i % rank]! - 1) - p);
  const convOk = strides.every((s) => s === 1) && flippedPads.every((p) => p >= 0);
  if (form === 'conv' && !convOk) throw new AutodiffError('conv input gradient as a plain Conv needs stride 1 and pads no larger than the dilated kernel');
  // The plain Conv form is a GEMM with one row per input channel of the forward conv: measured faster
  // (~185 vs ~114 GFLOP/s on 2 threads) except when those channels are few, as in a conv_in.
  const thin = w.shape[1]! * geo.group < MIN_TAP_CHANNELS;
  if (form === 'convTranspose' || !convOk || (form === 'auto' && thin)) {
    const outputPadding = spatial.map((h, i) => (h + pads[i]! + pads[rank + i]! - dilations[i]! * (kernel[i]! - 1) - 1) % strides[i]!);
    return g.convTranspose(dy, w, undefined, { strides, pads, dilations, group: geo.group, outputPadding });
  }
  return g.conv(dy, flipTransposed(g, w, geo), undefined, { pads: flippedPads, dilations, group: geo.group });
}

/** W [G·O, C, k…] → [G·C, O, k…] with every kernel flipped: the kernel of the adjoint of a stride-1 conv. */
function flipTransposed(g: Graph, w: Value, geo: ConvGeometry): Value {
  const { group, rank, kernel } = geo;
  const [o, c] = [w.shape[0]! / group, w.shape[1]!];
  const sp = range(rank, 3);
  const t = group === 1
    ? g.transpose(w, [1, 0, ...range(rank, 2)])
    : g.reshape(g.transpose(g.reshape(w, [group, o, c, ...kernel]), [0, 2, 1, ...sp]), [group * c, o, ...kernel]);
  const axes = range(rank, 2).filter((_, i) => kernel[i]! > 1);
  if (axes.length === 0) return t;
  return g.slice(t, axes.map(() => -1), axes.map((a) => -(t.shape[a]! + 1)), axes, axes.map(() => -1));
}

// ------------------------------------------------------------------ weight gradient

/** dW for y = Conv(x, W); also serves ConvTranspose with x ↔ dY swapped. */
export function convWeightGrad(g: Graph, x: Value, dy: Value, geo: ConvGeometry,
  form: NonNullable<ConvForms['weightGrad']>): Value {
  const im2colOk = geo.group === 1 && geo.rank === 2;
  if (form !== 'auto' && form !== 'conv' && !im2colOk) {
    throw new AutodiffError('im2col weight gradients are implemented for 2-D convs with group 1');
  }
  if (form === 'conv' || !im2colOk) return weightGradConv(g, x, dy, geo);
  const pointwise = geo.kernel.every((k) => k === 1) && geo.strides.every((s) => s === 1) && geo.pads.every((p) => p === 0);
  // Measured (bench/autodiff.bench.ts --cpu; 3×3, 128 channels at 32², batch 16): a GEMM per Slice tap
  // 74 GFLOP/s, one-hot Conv columns 72, concatenated Slice columns 68, Conv(Xᵀ, dYᵀ) 35. With few
  // input channels (an RGB or latent conv_in) the per-tap GEMMs are too thin and the one-hot columns
  // win by 2–3×. A pointwise conv needs no columns; its batched MatMul (79) also avoids transposing x.
  const thin = x.shape[1]! < MIN_TAP_CHANNELS;
  if (form === 'im2colConv' || (form === 'auto' && (pointwise || thin))) return weightGradColumns(g, x, dy, geo, pointwise);
  return weightGradSlices(g, x, dy, geo, form !== 'im2col');
}

/** The general form: correlate Xᵀ with dYᵀ (strides and dilations swap roles), then crop to the kernel. */
function weightGradConv(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const { group, rank, kernel, strides, pads, dilations } = geo;
  const [n, cin] = [x.shape[0]!, x.shape[1]!];
  const cg = cin / group;
  const sp = x.shape.slice(2);
  const xt = group === 1
    ? g.transpose(x, [1, 0, ...range(rank, 2)])
    : g.reshape(g.transpose(g.reshape(x, [n, group, cg, ...sp]), [2, 1, 0, ...range(rank, 3)]), [cg, group * n, ...sp]);
  const dyt = g.transpose(dy, [1, 0, ...range(rank, 2)]);
  const full = g.conv(xt, dyt, undefined, { strides: dilations, dilations: strides, pads, group });
  const cropped = full.shape.slice(2).some((d, i) => d !== kernel[i])
    ? g.slice(full, kernel.map(() => 0), kernel, range(rank, 2))
    : full;
  return g.transpose(cropped, [1, 0, ...range(rank, 2)]);
}

/**
 * dW by im2col with Slice taps of the padded input, laid out channel-major ([C·kh·kw, N·H'·W']) so
 * that the whole batch is one GEMM with a long inner dimension, which MLAS runs near its peak.
 */
function weightGradSlices(g: Graph, x: Value, dy: Value, geo: ConvGeometry, perTap: boolean): Value {
  const [kh, kw] = geo.kernel as [number, number];
  const [sh, sw] = geo.strides as [number, number];
  const [dh, dw] = geo.dilations as [number, number];
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const [cout, ho, wo] = [dy.shape[1]!, dy.shape[2]!, dy.shape[3]!];
  const xt = g.transpose(pad(g, x, [0, 0, geo.pads[0]!, geo.pads[1]!, 0, 0, geo.pads[2]!, geo.pads[3]!]), [1, 0, 2, 3]);
  const d = g.reshape(g.transpose(dy, [1, 0, 2, 3]), [cout, n * ho * wo]);
  const taps: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const [h0, w0] = [i * dh, j * dw];
      const [h1, w1] = [h0 + (ho - 1) * sh + 1, w0 + (wo - 1) * sw + 1];
      const whole = h0 === 0 && w0 === 0 && h1 === xt.shape[2] && w1 === xt.shape[3] && sh === 1 && sw === 1;
      const tap = whole ? xt : g.slice(xt, [h0, w0], [h1, w1], [2, 3], sh > 1 || sw > 1 ? [sh, sw] : undefined);
      // Per tap: one GEMM straight from the slice, no concatenated copy; else stack the columns.
      taps.push(perTap
        ? g.reshape(g.gemm(d, g.reshape(tap, [c, n * ho * wo]), undefined, { transB: true }), [cout, c, 1])
        : g.reshape(tap, [c, 1, n * ho * wo]));
    }
  }
  const stacked = taps.length === 1 ? taps[0]! : g.concat(taps, perTap ? 2 : 1);
  if (perTap) return g.reshape(stacked, [cout, c, kh, kw]);
  return g.reshape(g.gemm(d, g.reshape(stacked, [c * kh * kw, n * ho * wo]), undefined, { transB: true }), [cout, c, kh, kw]);
}

/** im2col with a depthwise Conv whose one-hot kernel copies each tap into its own channel. */
function columnsByConv(g: Graph, x: Value, geo: ConvGeometry, ho: number, wo: number): Value {
  const [kh, kw] = geo.kernel as [number, number];
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const kk = kh * kw;
  const eye = new Array<number>(c * kk * kk).fill(0);
  for (let ch = 0; ch < c; ch++) for (let t = 0; t < kk; t++) eye[(ch * kk + t) * kk + t] = 1;
  const e = g.constant(eye, [c * kk, 1, kh, kw], x.dtype);
  const { strides, pads, dilations } = geo;
  return g.reshape(g.conv(x, e, undefined, { strides, pads, dilations, group: c }), [n, c * kk, ho * wo]);
}

/**
 * dW = Σₙ dYₙ · colsₙᵀ, computed as its transpose Σₙ colsₙ · dYₙᵀ so that only dY (not the k²-times
 * larger columns) is transposed; a 1×1 stride-1 conv needs no columns at all.
 */
function weightGradColumns(g: Graph, x: Value, dy: Value, geo: ConvGeometry, pointwise: boolean): Value {
  const [kh, kw] = geo.kernel as [number, number];
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const [cout, ho, wo] = [dy.shape[1]!, dy.shape[2]!, dy.shape[3]!];
  const cols = pointwise ? g.reshape(x, [n, c, ho * wo]) : columnsByConv(g, x, geo, ho, wo);
  const dyt = g.transpose(g.reshape(dy, [n, cout, ho * wo]), [0, 2, 1]);
  const wt = g.reduceSum(g.matmul(cols, dyt), [0], false); // [C·kh·kw, C_out]
  return g.reshape(g.transpose(wt, [1, 0]), [cout, c, kh, kw]);
}
