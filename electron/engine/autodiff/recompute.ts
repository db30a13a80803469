// Activation recomputation (gradient checkpointing) at block granularity. A block is the set of forward
// nodes whose outputs are named inside one Graph.scoped scope (nn/unet.ts scopes each ResBlock and
// transformer block). Values a block produces and only its own nodes read are its inner values: the
// backward rules of the block read copies of them, computed again from the block's inputs when the
// backward pass reaches the block, so the forward's copies die inside the forward pass.
//
// onnxruntime would merge the copies back into the forward nodes (common-subexpression elimination) and
// may order its nodes so that several blocks' copies are alive at once; so the block's inputs enter the
// copies as x + 0·(dY[0…0] + Σ dW[0…0]), where dY is the gradient arriving at the block and dW the
// weight gradients of the block recomputed before it: a distinct value that exists only once the
// backward pass got there and the previous block's copies are no longer needed.
import type { Graph, Node, Value } from '../onnx/graph.ts';

export interface Block {
  readonly nodes: Node[];
  /** Values produced in the block and read only inside it (nor the loss). */
  readonly inner: Set<string>;
  /** The recomputed inner values, once emitted. */
  again: Map<string, Value> | null;
}

/** Ops whose result would differ when run again. */
const RANDOM = new Set(['Dropout', 'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

/** The scope a node's output is named in (text before the last '/'), or null outside any scope. */
export function blockOf(node: Node): string | null {
  const name = node.outputs[0] ?? '';
  const i = name.lastIndexOf('/');
  return i > 0 ? name.slice(0, i) : null;
}

/** The live forward nodes grouped into blocks worth recomputing, by node. */
export function findBlocks(liveNodes: readonly Node[], loss: string): Map<Node, Block> {
  const byName = new Map<string, Block>();
  const blockOfNode = new Map<Node, Block>();
  for (const node of liveNodes) {
    const key = blockOf(node);
    if (key === null) continue;
    let b = byName.get(key);
    if (!b) byName.set(key, (b = { nodes: [], inner: new Set(), again: null }));
    b.nodes.push(node);
    blockOfNode.set(node, b);
  }
  // Who reads each value: a block, or null for a node outside every block.
  const readers = new Map<string, Set<Block | null>>();
  for (const node of liveNodes) {
    for (const x of node.inputs) {
      if (x === '') continue;
      let r = readers.get(x);
      if (!r) readers.set(x, (r = new Set()));
      r.add(blockOfNode.get(node) ?? null);
    }
  }
  const out = new Map<Node, Block>();
  for (const b of byName.values()) {
    if (b.nodes.some((n) => RANDOM.has(n.op))) continue;
    for (const n of b.nodes) {
      for (const o of n.outputs) {
        const r = readers.get(o);
        if (o !== loss && (!r || [...r].every((x) => x === b))) b.inner.add(o);
      }
    }
    if (b.inner.size === 0) continue;
    for (const n of b.nodes) out.set(n, b);
  }
  return out;
}

/** The weights a block's nodes read. */
export function weightsOf(g: Graph, b: Block): string[] {
  return [...new Set(b.nodes.flatMap((n) => n.inputs.filter((x) => g.params.has(x))))];
}

/**
 * The block's inner values computed again (once per block; later calls return the same map). `after`
 * gives the gradient that reaches the block first in the backward pass, then any values the copies
 * must wait for (same dtype).
 */
export function recomputeBlock(g: Graph, b: Block, after: () => Value[]): Map<string, Value> {
  if (b.again) return b.again;
  const [d, ...waits] = after();
  const firstOf = (v: Value) => g.reshape(v.shape.length ? g.slice(v, v.shape.map(() => 0), v.shape.map(() => 1), v.shape.map((_, i) => i)) : v, []);
  let sum = firstOf(d!);
  for (const w of waits) if (w.dtype === d!.dtype) sum = g.add(sum, firstOf(w));
  const zero = g.mul(sum, g.scalar(0, d!.dtype));
  const again = new Map<string, Value>();
  const entered = new Map<string, Value>();
  const source = (name: string): Value | null => {
    if (name === '') return null;
    const mine = again.get(name);
    if (mine) return mine;
    const v = g.value(name);
    // Weights, constants and other dtypes enter as they are (nothing to merge them with that costs memory).
    if (g.params.has(name) || g.constants.has(name) || v.dtype !== d!.dtype) return v;
    let e = entered.get(name);
    if (!e) entered.set(name, (e = g.add(v, zero)));
    return e;
  };
  for (const n of b.nodes) {
    const outs = g.emit(n.op, n.inputs.map(source), { ...n.attrs }, n.outputs.map((o) => ({ dtype: g.value(o).dtype, shape: g.value(o).shape })), n.domain);
    n.outputs.forEach((o, k) => {
      if (b.inner.has(o)) again.set(o, outs[k]!);
    });
  }
  b.again = again;
  return again;
}

/** Ops whose output onnxruntime lets share its input's buffer. */
const ALIASING = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

/**
 * Bytes of the forward values a backward pass keeps, roughly: every float value the forward nodes make
 * (views excepted), or with recomputation those outside blocks' inner values plus the largest block's
 * inner values (the one being recomputed). For choosing recomputation and estimating a run's memory.
 */
export function activationBytes(forward: Graph, loss: string, recompute: boolean): number {
  const size = (name: string) => {
    const v = forward.value(name);
    return v.dtype === 'float32' ? 4 * v.shape.reduce((a, b) => a * b, 1) : v.dtype === 'float16' ? 2 * v.shape.reduce((a, b) => a * b, 1) : 0;
  };
  const counted = forward.nodes.filter((n) => !ALIASING.has(n.op));
  if (!recompute) return counted.reduce((s, n) => s + n.outputs.reduce((t, o) => t + size(o), 0), 0);
  const blocks = new Set(findBlocks(forward.nodes, loss).values());
  const inner = new Set([...blocks].flatMap((b) => [...b.inner]));
  let kept = 0;
  for (const n of counted) for (const o of n.outputs) if (!inner.has(o)) kept += size(o);
  let largest = 0;
  for (const b of blocks) {
    let sum = 0;
    for (const n of b.nodes) if (!ALIASING.has(n.op)) for (const o of n.outputs) if (b.inner.has(o)) sum += size(o);
    largest = Math.max(largest, sum);
  }
  return kept + largest;
}
