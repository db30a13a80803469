// The reverse pass: copies the part of the forward graph the loss needs, then walks it backwards in
// topological order, asking the rule of each op for the gradients of its inputs. It knows no op itself.
import { Graph, broadcastShapes, type Node, type Value } from '../onnx/graph.ts';
import { isFloat } from '../onnx/dtypes.ts';
import { pruneToOutputs } from '../onnx/prune.ts';
import { numel } from '../tensor.ts';
import { findBlocks, recomputeBlock, weightsOf, type Block } from './recompute.ts';
import { RULES, type GradientOptions, type RuleContext } from './rules.ts';
import { AutodiffError, fmt, sameShape, zeros } from './util.ts';

export type { GradientOptions } from './rules.ts';

/**
 * A new graph with the forward nodes the loss depends on plus the backward nodes. Params and inputs of
 * `forward` are kept (same names, same order). Outputs: `loss`, then `grad:<name>` for each `wrt` name,
 * shaped like that param. `wrt` names params (or float data inputs, handy for checks).
 */
export function buildGradientGraph(forward: Graph, loss: Value, wrt: string[], options: GradientOptions = {}): Graph {
  const lossV = checkLoss(forward, loss);
  const wrtSet = checkWrt(forward, wrt);

  // Nodes the loss depends on, and which of their values lie on a path from a wrt value to the loss.
  const live = new Set<string>([lossV.name]);
  const liveNodes: Node[] = [];
  for (let i = forward.nodes.length - 1; i >= 0; i--) {
    const node = forward.nodes[i]!;
    if (!node.outputs.some((o) => live.has(o))) continue;
    liveNodes.push(node);
    for (const x of node.inputs) if (x !== '') live.add(x);
  }
  liveNodes.reverse();
  const stop = new Set(options.stopGradient ?? []);
  for (const name of stop) if (!forward.has(name)) throw new AutodiffError(`stopGradient names '${name}', which is not a value of graph '${forward.name}'`);
  const dependsOnWrt = new Set<string>(wrtSet);
  for (const node of liveNodes) {
    if (!node.inputs.some((x) => dependsOnWrt.has(x))) continue;
    for (const o of node.outputs) if (isFloat(forward.value(o).dtype) && !stop.has(o)) dependsOnWrt.add(o);
  }
  const active = (name: string): boolean => live.has(name) && dependsOnWrt.has(name);

  const g = copyForward(forward, liveNodes, live);
  // With recomputation, the backward rules of a block's nodes read copies of its inner values computed
  // again from the block's inputs (recompute.ts) instead of the forward's.
  const blocks = options.recompute ? findBlocks(liveNodes, lossV.name) : new Map<Node, Block>();
  // Contributions may be compact: same rank as the value, size 1 on axes it would only repeat along
  // (a reduction's gradient). They are summed with broadcasting and expanded only where a rule needs
  // the full tensor, which saves whole-tensor passes in every normalisation.
  const contributions = new Map<string, Value[]>();
  const compactGradient = (name: string): Value | null => {
    const parts = contributions.get(name);
    if (!parts || parts.length === 0) return null;
    if (parts.length === 1) return parts[0]!;
    const shape = parts.reduce<number[]>((s, p) => broadcastShapes(s, p.shape)!, []);
    const sum = g.emit('Sum', parts, {}, [{ dtype: parts[0]!.dtype, shape }])[0]!;
    contributions.set(name, [sum]);
    return sum;
  };
  const fullGradient = (name: string): Value | null => {
    const d = compactGradient(name);
    const v = g.value(name);
    if (!d || sameShape(d.shape, v.shape)) return d;
    const full = g.expand(d, [...v.shape]);
    contributions.set(name, [full]);
    return full;
  };

  let previous: Block | null = null;
  g.scoped('grad', () => {
    contributions.set(lossV.name, [g.constant(new Array(numel(lossV.shape)).fill(1), lossV.shape, lossV.dtype)]);
    for (let i = liveNodes.length - 1; i >= 0; i--) {
      const node = liveNodes[i]!;
      const flows = node.outputs.map((o) => active(o) && contributions.has(o));
      if (!flows.some(Boolean)) continue;
      const needs = node.inputs.map((x) => x !== '' && active(x));
      if (!needs.some(Boolean)) continue;
      const rule = RULES[node.op];
      if (!rule) {
        throw new AutodiffError(`no gradient rule for op ${node.op} (node '${node.name}'); supported: ${Object.keys(RULES).sort().join(', ')}`);
      }
      const block = blocks.get(node);
      const again = block ? recomputeBlock(g, block, () => [
        compactGradient(node.outputs[flows.indexOf(true)]!)!,
        // the weight gradients of the block recomputed last: its copies die before these are made
        ...(previous ? weightsOf(g, previous).map((w) => compactGradient(w)).filter((v): v is Value => v !== null) : []),
      ]) : null;
      if (block) previous = block;
      const valueOf = (name: string): Value => again?.get(name) ?? g.value(name);
      const ctx: RuleContext = {
        g, node, options,
        inputs: node.inputs.map((x) => (x === '' ? null : valueOf(x))),
        outputs: node.outputs.map(valueOf),
        grad: (k) => (flows[k] ? fullGradient(node.outputs[k]!) : null),
        compactGrad: (k) => (flows[k] ? compactGradient(node.outputs[k]!) : null),
        needs: (k) => needs[k] === true,
      };
      const result = rule(ctx);
      needs.forEach((need, k) => {
        if (!need) return;
        const d = result[k];
        if (!d) return;
        const x = ctx.inputs[k]!;
        const fits = d.shape.length === x.shape.length && d.shape.every((s, j) => s === x.shape[j] || s === 1);
        if (!fits || d.dtype !== x.dtype) {
          throw new AutodiffError(`gradient rule for ${node.op} (node '${node.name}') gave ${d.dtype}${fmt(d.shape)} for input ${k}, which is ${x.dtype}${fmt(x.shape)}`);
        }
        // by the forward value's name (a recomputed block's rules see copies of its inner values)
        const list = contributions.get(node.inputs[k]!) ?? [];
        list.push(d);
        contributions.set(node.inputs[k]!, list);
      });
    }
  });

  g.output(g.value(lossV.name), 'loss');
  for (const name of wrt) {
    const v = g.value(name);
    const d = g.scoped('grad', () => (active(name) ? fullGradient(name) : null) ?? zeros(g, v.dtype, v.shape));
    g.output(d, `grad:${name}`);
  }
  // Recomputed nodes no rule read (e.g. a block's last node, whose output was kept) are dropped.
  return blocks.size ? pruneToOutputs(g, g.outputs.map((o) => o.name), g.name) : g;
}

function checkLoss(forward: Graph, loss: Value): Value {
  if (!forward.has(loss.name)) throw new AutodiffError(`loss '${loss.name}' is not a value of graph '${forward.name}'`);
  const v = forward.value(loss.name);
  if (!isFloat(v.dtype)) throw new AutodiffError(`loss '${v.name}' must be floating point, got ${v.dtype}`);
  if (numel(v.shape) !== 1) throw new AutodiffError(`loss '${v.name}' must hold one element, got shape ${fmt(v.shape)}; reduce it first`);
  return v;
}

function checkWrt(forward: Graph, wrt: string[]): Set<string> {
  const set = new Set(wrt);
  if (set.size !== wrt.length) throw new AutodiffError(`wrt lists a name twice: ${wrt.join(', ')}`);
  for (const name of wrt) {
    const isLeaf = forward.params.has(name) || forward.inputs.some((x) => x.name === name);
    if (!isLeaf) throw new AutodiffError(`wrt name '${name}' is not a parameter or input of graph '${forward.name}'`);
    const v = forward.value(name);
    if (!isFloat(v.dtype)) throw new AutodiffError(`cannot differentiate with respect to '${name}' of dtype ${v.dtype}`);
  }
  return set;
}

/** The forward leaves and the live nodes, under their original value names. */
function copyForward(forward: Graph, liveNodes: Node[], live: Set<string>): Graph {
  const g = new Graph(`${forward.name}_grad`);
  for (const x of forward.inputs) g.input(x.name, x.dtype, x.shape);
  for (const p of forward.params.values()) g.param(p.name, p.shape, p.init, { trainable: p.trainable, dtype: p.dtype });
  for (const [name, t] of forward.constants) if (live.has(name)) g.constant(t.data, t.shape, t.dtype, name);
  for (const node of liveNodes) {
    const ins = node.inputs.map((x) => (x === '' ? null : g.value(x)));
    const outs = node.outputs.map((o) => {
      const v = forward.value(o);
      return { dtype: v.dtype, shape: v.shape, name: o };
    });
    g.emit(node.op, ins, { ...node.attrs }, outs);
  }
  return g;
}
