// Small shape and attribute helpers shared by the reverse pass and the gradient rules.
import type { Attr, Graph, Node, Value } from '../onnx/graph.ts';
import type { DType, Shape } from '../tensor.ts';

export class AutodiffError extends Error {
  override name = 'AutodiffError';
}

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export const fmt = (s: Shape): string => `[${s.join(', ')}]`;

/**
 * Sums a broadcast gradient back to the shape of the operand it came from: over the leading axes the
 * operand lacks and over the axes where the operand has size 1 but the gradient does not. A compact
 * gradient (size 1 where the operand is larger) stays compact on those axes.
 */
export function sumToShape(g: Graph, dy: Value, shape: Shape): Value {
  if (sameShape(dy.shape, shape)) return dy;
  const lead = dy.shape.length - shape.length;
  if (lead < 0) throw new AutodiffError(`cannot sum a gradient of shape ${fmt(dy.shape)} to the larger shape ${fmt(shape)}`);
  const axes: number[] = [];
  dy.shape.forEach((d, i) => {
    const target = i < lead ? 1 : shape[i - lead]!;
    if (d === target || d === 1) return;
    if (target !== 1) throw new AutodiffError(`gradient of shape ${fmt(dy.shape)} does not broadcast from ${fmt(shape)}`);
    axes.push(i);
  });
  const summed = axes.length ? g.reduceSum(dy, axes, true) : dy;
  return lead === 0 ? summed : g.reshape(summed, summed.shape.slice(lead));
}

/** A zero tensor of the given shape (a broadcast scalar, not a stored constant). */
export function zeros(g: Graph, dtype: DType, shape: Shape): Value {
  const z = g.scalar(0, dtype);
  return shape.length === 0 ? z : g.expand(z, [...shape]);
}

export function intAttr(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  if (a === undefined) return dflt;
  if (a.kind !== 'int') throw new AutodiffError(`${node.op} node '${node.name}': attribute ${name} should be an int`);
  return a.value;
}

export function intsAttr(node: Node, name: string): number[] | undefined {
  const a: Attr | undefined = node.attrs[name];
  if (a === undefined) return undefined;
  if (a.kind !== 'ints') throw new AutodiffError(`${node.op} node '${node.name}': attribute ${name} should be ints`);
  return [...a.value];
}

export function stringAttr(node: Node, name: string, dflt: string): string {
  const a = node.attrs[name];
  if (a === undefined) return dflt;
  if (a.kind !== 'string') throw new AutodiffError(`${node.op} node '${node.name}': attribute ${name} should be a string`);
  return a.value;
}

/** Values of a constant (initializer) input, as numbers; undefined when the input is omitted. */
export function constValues(g: Graph, node: Node, v: Value | null): number[] | undefined {
  if (v === null) return undefined;
  const t = g.constants.get(v.name);
  if (!t) {
    throw new AutodiffError(`${node.op} node '${node.name}': input '${v.name}' must be a constant to differentiate this op`);
  }
  return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
}

export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Constant zero padding (ONNX Pad order: all begins, then all ends). */
export function pad(g: Graph, v: Value, pads: number[]): Value {
  if (pads.every((p) => p === 0)) return v;
  const r = v.shape.length;
  const shape = v.shape.map((d, i) => d + pads[i]! + pads[r + i]!);
  const p = g.constant(pads, [pads.length], 'int64');
  return g.emit('Pad', [v, p], { mode: { kind: 'string', value: 'constant' } }, [{ dtype: v.dtype, shape }])[0]!;
}
