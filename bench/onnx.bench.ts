// onnxruntime CPU throughput on our graphs (printed, not pass/fail): achieved GFLOP/s of Conv 3×3 and
// MatMul at a few sizes, with the weights as initializers (inference) and as graph inputs (training
// feeds them each step, which stops onnxruntime from pre-packing them).
// Run: npx tsx bench/onnx.bench.ts [--threads N] [--quick]
import { Graph } from '../electron/engine/onnx/graph.ts';
import { toModelProto } from '../electron/engine/onnx/serialize.ts';
import { createSession } from '../electron/engine/onnx/runtime.ts';
import { Rng } from '../electron/engine/diffusion/rng.ts';
import { numel, type TensorData } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const threads = Number(args[args.indexOf('--threads') + 1]) || 2;
const quick = args.includes('--quick');
const REPEATS = quick ? 3 : 8;
const rng = new Rng(1);
const randn = (shape: number[]): TensorData => ({ dtype: 'float32', shape, data: rng.normal(numel(shape)) });

/** Best-of-N ms per run after a warm-up: on a shared machine the minimum is the least disturbed figure. */
async function best(g: Graph, asInputs: boolean): Promise<number> {
  const weights = new Map([...g.params.values()].map((p) => [p.name, randn([...p.shape])]));
  const model = toModelProto(g, asInputs ? { kind: 'inputs' } : { kind: 'embedded', get: (n) => weights.get(n)! });
  const s = await createSession(model, { provider: 'cpu', threads });
  const feeds: Record<string, TensorData> = {};
  for (const v of g.inputs) feeds[v.name] = randn([...v.shape]);
  if (asInputs) for (const [k, w] of weights) feeds[k] = w;
  const out = Object.fromEntries(g.outputs.map((o) => [o.name, { dtype: 'float32', shape: o.shape, data: new Float32Array(numel(o.shape)) } as TensorData]));
  await s.runInto(feeds, out);
  let ms = Infinity;
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    await s.runInto(feeds, out);
    ms = Math.min(ms, performance.now() - t0);
  }
  await s.release();
  return ms;
}

const row = (label: string, flop: number, msInit: number, msInputs: number) =>
  console.log(`${label.padEnd(34)} ${(flop / 1e9).toFixed(2).padStart(7)} GFLOP  ${msInit.toFixed(2).padStart(8)} ms ${(flop / msInit / 1e6).toFixed(0).padStart(6)} GFLOP/s   ${msInputs.toFixed(2).padStart(8)} ms ${(flop / msInputs / 1e6).toFixed(0).padStart(6)} GFLOP/s`);

console.log(`onnxruntime CPU, ${threads} threads, best of ${REPEATS}`);
console.log(`${''.padEnd(34)} ${''.padStart(13)}  ${'weights as initializers'.padStart(30)}   ${'weights as inputs (training)'.padStart(30)}`);

const convs: [n: number, c: number, s: number][] = quick ? [[16, 128, 32]] : [[16, 64, 32], [16, 128, 32], [8, 256, 16], [4, 128, 64]];
for (const [n, c, s] of convs) {
  const g = new Graph('conv');
  const x = g.input('x', 'float32', [n, c, s, s]);
  const w = g.param('w', [c, c, 3, 3], { kind: 'normal', std: 0.05 });
  const b = g.param('b', [c], { kind: 'zeros' });
  g.output(g.conv(x, w, b, { pads: [1, 1, 1, 1] }), 'y');
  const flop = 2 * n * c * s * s * c * 9;
  row(`Conv3x3 ${c}→${c} @${s}², N=${n}`, flop, await best(g, false), await best(g, true));
}
const mms: [m: number, k: number, n: number][] = quick ? [[1024, 1024, 1024]] : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [4096, 128, 512], [2048, 1152, 128]];
for (const [m, k, nn] of mms) {
  const g = new Graph('matmul');
  const a = g.input('a', 'float32', [m, k]);
  const w = g.param('w', [k, nn], { kind: 'normal', std: 0.05 });
  g.output(g.matmul(a, w), 'y');
  row(`MatMul ${m}×${k} · ${k}×${nn}`, 2 * m * k * nn, await best(g, false), await best(g, true));
}
