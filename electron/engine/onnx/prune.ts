// A copy of a graph that keeps only the nodes needed for some of its outputs. onnxruntime runs every
// node of a model whatever outputs are fetched, so e.g. evaluating a training graph's loss needs its
// own, smaller model. Inputs and params are all kept (same names, same order), so the same feeds fit.
import { Graph, GraphError, type Node } from './graph.ts';

export function pruneToOutputs(graph: Graph, outputs: readonly string[], name = `${graph.name}:${outputs.join(',')}`): Graph {
  const needed = new Set<string>();
  const stack = [...outputs];
  for (const o of outputs) {
    if (!graph.outputs.some((v) => v.name === o)) throw new GraphError(`graph '${graph.name}' has no output '${o}'`);
  }
  const keep = new Set<Node>();
  while (stack.length) {
    const v = stack.pop()!;
    if (needed.has(v)) continue;
    needed.add(v);
    const n = graph.producer(v);
    if (n && !keep.has(n)) {
      keep.add(n);
      for (const i of n.inputs) if (i !== '') stack.push(i);
    }
  }
  const out = new Graph(name);
  for (const v of graph.inputs) out.input(v.name, v.dtype, v.shape);
  for (const p of graph.params.values()) out.param(p.name, p.shape, p.init, { trainable: p.trainable, dtype: p.dtype });
  for (const [k, t] of graph.constants) if (needed.has(k)) out.constant(t.data, t.shape, t.dtype, k);
  for (const n of graph.nodes) {
    if (!keep.has(n)) continue;
    out.emit(n.op, n.inputs.map((i) => (i === '' ? null : out.value(i))), { ...n.attrs },
      n.outputs.map((o) => { const v = graph.value(o); return { dtype: v.dtype, shape: v.shape, name: o }; }), n.domain);
  }
  for (const o of outputs) out.output(out.value(o));
  return out;
}
