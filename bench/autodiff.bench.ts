// Autodiff benchmark (printed, not pass/fail): forward vs forward+backward time for a conv ResBlock and
// a small UNet-like stack, and GFLOP/s of the conv gradient forms next to a MatMul and the forward conv
// timed in the same run. Run: npx tsx bench/autodiff.bench.ts [--threads N | --cpu] [--quick] [--forms | --nets]
// PyTorch 1.13 on this CPU: conv forward+backward = 2.7× forward (shared/reference/environment.md).
import { Graph, type Value } from '../electron/engine/onnx/graph.ts';
import { toModelProto } from '../electron/engine/onnx/serialize.ts';
import { createSession } from '../electron/engine/onnx/runtime.ts';
import { buildGradientGraph, type ConvForms } from '../electron/engine/autodiff/index.ts';
import { convInputGrad, convWeightGrad, type ConvGeometry } from '../electron/engine/autodiff/conv.ts';
import { numel, type TensorData } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const cpu = args.includes('--cpu');
const threads = cpu ? 1 : Number(args[args.indexOf('--threads') + 1]) || 2;
const quick = args.includes('--quick');
const only = args.includes('--forms') ? 'forms' : args.includes('--nets') ? 'nets' : 'all';
const REPEATS = quick ? 3 : 7;

let seed = 12345;
function randn(shape: readonly number[], std = 1): TensorData {
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = ((seed / 4294967296) * 2 - 1) * std * 1.7;
  }
  return { dtype: 'float32', shape: [...shape], data };
}

/**
 * Best-of-N time in ms of one session run per graph, after a warm-up. The graphs take turns, so that
 * load from other processes falls on all of them alike. With --cpu the figure is process CPU time
 * with one intra-op thread: the work a run does, nearly independent of other load on the machine.
 */
async function timeAll(graphs: Graph[], feeds: (g: Graph) => Record<string, TensorData>): Promise<number[]> {
  const sessions = [];
  for (const g of graphs) sessions.push(await createSession(toModelProto(g, { kind: 'inputs' }), { provider: 'cpu', threads }));
  const inputs = graphs.map(feeds);
  const best = graphs.map(() => Infinity);
  for (let r = 0; r <= REPEATS; r++) {
    for (let i = 0; i < sessions.length; i++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      await sessions[i]!.run(inputs[i]!);
      const c = process.cpuUsage(c0);
      const ms = cpu ? (c.user + c.system) / 1000 : performance.now() - t0;
      if (r > 0) best[i] = Math.min(best[i]!, ms);
    }
  }
  for (const s of sessions) await s.release();
  return best;
}

function feedsFor(g: Graph): Record<string, TensorData> {
  const f: Record<string, TensorData> = {};
  for (const v of g.inputs) f[v.name] = randn(v.shape);
  for (const p of g.params.values()) f[p.name] = randn(p.shape, p.init.kind === 'normal' ? p.init.std : 0.05);
  return f;
}

const gflops = (flop: number, ms: number): string => (flop / ms / 1e6).toFixed(0).padStart(5);

// ------------------------------------------------------------------ conv gradient forms

async function convForms(n: number, c: number, hw: number, k: number, stride: number): Promise<void> {
  const p = (k - 1) >> 1;
  const geo: ConvGeometry = { rank: 2, kernel: [k, k], strides: [stride, stride], pads: [p, p, p, p], dilations: [1, 1], group: 1 };
  const ho = Math.floor((hw + 2 * p - k) / stride) + 1;
  const flop = 2 * n * c * c * k * k * ho * ho;
  const make = (build: (g: Graph, x: Value, w: Value, dy: Value) => Value) => {
    const g = new Graph('form');
    const x = g.input('x', 'float32', [n, c, hw, hw]);
    const w = g.input('w', 'float32', [c, c, k, k]);
    const dy = g.input('dy', 'float32', [n, c, ho, ho]);
    g.output(build(g, x, w, dy), 'out');
    return g;
  };
  const rows: [string, Graph][] = [
    ['forward Conv', make((g, x, w) => g.conv(x, w, undefined, { pads: geo.pads, strides: geo.strides }))],
    ['dW Conv(Xᵀ, dYᵀ)', make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, 'conv'))],
    ['dW im2col Slice+Concat+Gemm', make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, 'im2col'))],
    ['dW im2col Slice, Gemm per tap', make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, 'im2colTaps'))],
    ['dW im2col one-hot Conv+MatMul', make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, 'im2colConv'))],
    ['dX ConvTranspose', make((g, _x, w, dy) => convInputGrad(g, dy, w, geo, [hw, hw], 'convTranspose'))],
  ];
  if (stride === 1) rows.push(['dX Conv, flipped Wᵀ', make((g, _x, w, dy) => convInputGrad(g, dy, w, geo, [hw, hw], 'conv'))]);
  console.log(`\nconv ${k}×${k} stride ${stride}, ${c}→${c} channels at ${hw}², batch ${n}: ${(flop / 1e9).toFixed(2)} GFLOP per product`);
  const mm = new Graph('mm');
  const m = Math.round(Math.cbrt(flop / 2));
  mm.output(mm.matmul(mm.input('a', 'float32', [m, m]), mm.input('b', 'float32', [m, m])), 'out');
  rows.push([`MatMul ${m}³ (same FLOP)`, mm]);
  const times = await timeAll(rows.map((r) => r[1]), feedsFor);
  rows.forEach(([label], i) => {
    const ms = times[i]!;
    console.log(`  ${label.padEnd(32)} ${ms.toFixed(1).padStart(8)} ms ${gflops(label.startsWith('MatMul') ? 2 * m ** 3 : flop, ms)} GFLOP/s`);
  });
}

/** dW/dX forms across conv sizes of the embedded models (times in ms; best form per row marked). */
async function formSweep(): Promise<void> {
  const sizes: [number, number, number, number][] = [ // C_in, C_out, H=W, batch
    [4, 64, 8, 32], [64, 64, 8, 32], [128, 128, 4, 32], [64, 4, 8, 32], [3, 32, 32, 16], [32, 32, 32, 16], [64, 64, 16, 16], [32, 3, 32, 16],
  ];
  const wForms = ['im2colTaps', 'im2col', 'im2colConv', 'conv'] as const;
  const xForms = ['conv', 'convTranspose'] as const;
  console.log(`\n3×3 stride-1 conv gradient forms by size (ms): dW ${wForms.join(' / ')} | dX ${xForms.join(' / ')}; auto's pick marked *`);
  for (const [cin, cout, hw, n] of sizes) {
    const geo: ConvGeometry = { rank: 2, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
    const make = (build: (g: Graph, x: Value, w: Value, dy: Value) => Value) => {
      const g = new Graph('sweep');
      const x = g.input('x', 'float32', [n, cin, hw, hw]);
      const w = g.input('w', 'float32', [cout, cin, 3, 3]);
      const dy = g.input('dy', 'float32', [n, cout, hw, hw]);
      g.output(build(g, x, w, dy), 'out');
      return g;
    };
    const graphs = [
      ...wForms.map((f) => make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, f))),
      make((g, x, _w, dy) => convWeightGrad(g, x, dy, geo, 'auto')),
      ...xForms.map((f) => make((g, _x, w, dy) => convInputGrad(g, dy, w, geo, [hw, hw], f))),
      make((g, _x, w, dy) => convInputGrad(g, dy, w, geo, [hw, hw], 'auto')),
    ];
    const opsOf = (g: Graph) => g.nodes.map((nd) => nd.op).join();
    const t = await timeAll(graphs, feedsFor);
    const mark = (i: number, autoIdx: number) => (opsOf(graphs[i]!) === opsOf(graphs[autoIdx]!) ? '*' : ' ');
    const w = wForms.map((_, i) => t[i]!.toFixed(2).padStart(7) + mark(i, 4)).join('');
    const xg = xForms.map((_, i) => t[5 + i]!.toFixed(2).padStart(7) + mark(5 + i, 7)).join('');
    console.log(`  ${`${cin}→${cout} at ${hw}², batch ${n}`.padEnd(26)} dW${w}  | dX${xg}`);
  }
}

// ------------------------------------------------------------------ networks

function resBlock(g: Graph, x: Value, name: string, cout?: number): Value {
  const cin = x.shape[1]!;
  const co = cout ?? cin;
  const w = (n: string, shape: number[], std: number) => g.param(`${name}.${n}`, shape, { kind: 'normal', std });
  let h = g.silu(g.groupNorm(x, 32, w('in_layers.0.weight', [cin], 1), w('in_layers.0.bias', [cin], 0.1), 1e-5));
  h = g.conv(h, w('in_layers.2.weight', [co, cin, 3, 3], 0.03), w('in_layers.2.bias', [co], 0.01), { pads: [1, 1, 1, 1] });
  h = g.silu(g.groupNorm(h, 32, w('out_layers.0.weight', [co], 1), w('out_layers.0.bias', [co], 0.1), 1e-5));
  h = g.conv(h, w('out_layers.3.weight', [co, co, 3, 3], 0.03), w('out_layers.3.bias', [co], 0.01), { pads: [1, 1, 1, 1] });
  const skip = co === cin ? x : g.conv(x, w('skip_connection.weight', [co, cin, 1, 1], 0.05), w('skip_connection.bias', [co], 0.01));
  return g.add(skip, h);
}

function attention(g: Graph, x: Value, name: string, heads: number): Value {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const w = (k: string, shape: number[], std: number) => g.param(`${name}.${k}`, shape, { kind: 'normal', std });
  const t = g.transpose(g.reshape(g.groupNorm(x, 32, w('norm.weight', [c], 1), w('norm.bias', [c], 0.1), 1e-5), [n, c, h * wd]), [0, 2, 1]);
  const d = c / heads;
  const split = (k: string) => g.transpose(g.reshape(g.matmul(t, w(`${k}.weight`, [c, c], 0.05)), [n, h * wd, heads, d]), [0, 2, 1, 3]);
  const [q, k, v] = [split('to_q'), split('to_k'), split('to_v')];
  const a = g.softmax(g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(d)), -1);
  const o = g.reshape(g.transpose(g.matmul(a, v), [0, 2, 1, 3]), [n, h * wd, c]);
  const proj = g.add(g.matmul(o, w('proj_out.weight', [c, c], 0.05)), w('proj_out.bias', [c], 0.01));
  return g.add(x, g.reshape(g.transpose(proj, [0, 2, 1]), [n, c, h, wd]));
}

function unetLike(g: Graph, x: Value): Value {
  const c = 64;
  const w = (k: string, shape: number[], std: number) => g.param(k, shape, { kind: 'normal', std });
  const h0 = g.conv(x, w('input_blocks.0.0.weight', [c, x.shape[1]!, 3, 3], 0.1), w('input_blocks.0.0.bias', [c], 0.01), { pads: [1, 1, 1, 1] });
  const h1 = resBlock(g, h0, 'input_blocks.1.0');
  const down = g.conv(h1, w('input_blocks.2.0.op.weight', [2 * c, c, 3, 3], 0.03), w('input_blocks.2.0.op.bias', [2 * c], 0.01),
    { pads: [1, 1, 1, 1], strides: [2, 2] });
  const mid = attention(g, resBlock(g, down, 'middle_block.0'), 'middle_block.1', 4);
  const up = g.conv(g.resizeNearest(mid, 2), w('output_blocks.0.1.conv.weight', [c, 2 * c, 3, 3], 0.03), w('output_blocks.0.1.conv.bias', [c], 0.01), { pads: [1, 1, 1, 1] });
  const h2 = resBlock(g, g.concat([up, h1], 1), 'output_blocks.1.0', c);
  const out = g.silu(g.groupNorm(h2, 32, w('out.0.weight', [c], 1), w('out.0.bias', [c], 0.1), 1e-5));
  return g.conv(out, w('out.2.weight', [x.shape[1]!, c, 3, 3], 0.03), w('out.2.bias', [x.shape[1]!], 0.01), { pads: [1, 1, 1, 1] });
}

async function ratio(label: string, shape: number[], body: (g: Graph, x: Value) => Value, forms: Record<string, ConvForms>): Promise<void> {
  const g = new Graph(label);
  const x = g.input('x', 'float32', shape);
  const target = g.input('target', 'float32', shape);
  const diff = g.sub(body(g, x), target);
  const loss = g.reduceMean(g.mul(diff, diff), shape.map((_, i) => i), false);
  g.output(loss, 'loss');
  const feeds = feedsFor(g);
  const params = [...g.params.keys()];
  const grads = Object.values(forms).map((conv) => buildGradientGraph(g, loss, params, { conv }));
  const [fwd, ...both] = await timeAll([g, ...grads], () => feeds);
  console.log(`\n${label}, input [${shape.join(', ')}], ${params.length} params: forward ${fwd!.toFixed(1)} ms`);
  Object.keys(forms).forEach((name, i) => {
    const t = both[i]!;
    console.log(`  ${name.padEnd(30)} forward+backward ${t.toFixed(1).padStart(7)} ms = ${(t / fwd!).toFixed(2)}× forward`
      + ` (backward/forward ${((t - fwd!) / fwd!).toFixed(2)}), ${grads[i]!.nodes.length} nodes`);
  });
}

const FORMS: Record<string, ConvForms> = {
  'auto (fast forms)': { inputGrad: 'auto', weightGrad: 'auto' },
  'general (ConvT, Conv(Xᵀ,dYᵀ))': { inputGrad: 'convTranspose', weightGrad: 'conv' },
};

console.log(`autodiff benchmark: onnxruntime CPU, ${threads} threads, best of ${REPEATS} ${cpu ? 'CPU times' : 'wall times'}`);
if (only !== 'nets') {
  await convForms(quick ? 4 : 16, 128, 32, 3, 1);
  await convForms(quick ? 4 : 16, 128, 32, 3, 2);
  await convForms(quick ? 4 : 16, 128, 32, 1, 1);
  await formSweep();
}
if (only !== 'forms') {
  await ratio('conv ResBlock 128 ch', [quick ? 4 : 16, 128, 32, 32], (g, x) => resBlock(g, x, 'block'), FORMS);
  await ratio('attention block 128 ch, 4 heads, 256 tokens', [quick ? 2 : 8, 128, 16, 16], (g, x) => attention(g, x, 'attn', 4), { auto: {} });
  await ratio('UNet-like stack 64/128 ch', [quick ? 2 : 8, 4, 32, 32], unetLike, FORMS);
}
console.log(`\npeak resident memory of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
