// Trainer benchmark (printed, not pass/fail): one training step of the embedded model's UNet
// (shared/reference/training-budget.md: mc 64, mult [1,2,2], 1 res block, attention at 8² and 4²,
// head ch 32, context 128) split into forward+backward (onnxruntime) and the optimiser update
// (AdamW + EMA in JS), against the forward alone; AdamW throughput; peak resident memory.
// --recompute: the gradient graph with activation recomputation (gradient checkpointing per ResBlock and
// transformer block); run once with and once without it (separate processes) to compare time and peak.
// Run: npx tsx bench/training.bench.ts [--threads N] [--quick] [--batch B] [--size LATENT_PX] [--recompute]
import { buildDiffusionLossGraph } from '../electron/engine/nn/losses.ts';
import type { UNetConfig } from '../electron/engine/nn/config.ts';
import { buildGradientGraph } from '../electron/engine/autodiff/index.ts';
import { toModelProto } from '../electron/engine/onnx/serialize.ts';
import { createSession } from '../electron/engine/onnx/runtime.ts';
import { AdamW, Ema, Trainer } from '../electron/engine/training/index.ts';
import { globalNorm } from '../electron/engine/training/clip.ts';
import { Rng } from '../electron/engine/diffusion/rng.ts';
import { initWeights } from '../electron/engine/nn/init.ts';
import { numel, type TensorData } from '../electron/engine/tensor.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
// --cpu: one intra-op thread and process CPU time instead of wall time (nearly independent of other load)
const cpu = args.includes('--cpu');
const threads = cpu ? 1 : flag('threads', 2);
const clock = () => (cpu ? (process.cpuUsage().user + process.cpuUsage().system) / 1000 : performance.now());
const batch = flag('batch', quick ? 8 : 32);
const size = flag('size', 16);
const steps = quick ? 2 : 4;
const recompute = args.includes('--recompute');

const unet: UNetConfig = {
  inChannels: 4, outChannels: 4, modelChannels: 64, channelMult: [1, 2, 2], numResBlocks: 1,
  attentionResolutions: [2, 4], numHeadChannels: 32, transformerDepth: 1, contextDim: 128,
};
const rng = new Rng(7);
const rss = () => `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;

let t0 = performance.now();
const lossGraph = buildDiffusionLossGraph(unet, { batch, height: size, width: size, latentChannels: 4, contextLength: 16 });
const trained = [...lossGraph.graph.params.keys()];
const grad = buildGradientGraph(lossGraph.graph, lossGraph.loss, trained, { recompute });
const nParams = trained.reduce((s, k) => s + numel(lossGraph.graph.params.get(k)!.shape), 0);
console.log(`UNet ${(nParams / 1e6).toFixed(2)} M params, batch ${batch}, latent ${size}², ${threads} threads${cpu ? ' (CPU time)' : ''}, recomputation ${recompute ? 'on' : 'off'}; `
  + `graphs built in ${(performance.now() - t0).toFixed(0)} ms (forward ${lossGraph.graph.nodes.length} nodes, training ${grad.nodes.length})`);

const feeds: Record<string, TensorData> = {};
for (const v of lossGraph.graph.inputs) {
  const data = v.name === 'sqrt_alpha_bar' || v.name === 'sqrt_one_minus_alpha_bar' ? new Float32Array(batch).fill(Math.SQRT1_2) : rng.normal(numel(v.shape));
  feeds[v.name] = { dtype: 'float32', shape: v.shape, data };
}

// forward alone, weights fed as inputs exactly as in training
const weights = initWeights(lossGraph.graph.params, 1);
const fwd = await createSession(toModelProto(lossGraph.graph, { kind: 'inputs' }), { provider: 'cpu', threads });
const fwdFeeds: Record<string, TensorData> = { ...feeds };
for (const [k, w] of weights) fwdFeeds[k] = { dtype: 'float32', shape: lossGraph.graph.params.get(k)!.shape, data: w };
await fwd.run(fwdFeeds, ['loss']);
let fwdMs = Infinity;
for (let i = 0; i < steps; i++) {
  t0 = clock();
  await fwd.run(fwdFeeds, ['loss']);
  fwdMs = Math.min(fwdMs, clock() - t0);
}
await fwd.release();

t0 = performance.now();
const tr = await Trainer.create({
  graph: grad, lr: 2e-4, seed: 1, clipNorm: 1, ema: { decay: 0.999 }, session: { provider: 'cpu', threads },
});
console.log(`trainer ready in ${(performance.now() - t0).toFixed(0)} ms (session creation included)`);
await tr.trainStep(feeds); // warm-up
let bwdMs = Infinity;
let updMs = Infinity;
let clipMs = Infinity;
for (let i = 0; i < steps; i++) {
  t0 = clock();
  await tr.backward(feeds);
  const t1 = clock();
  await tr.update();
  const t2 = clock();
  bwdMs = Math.min(bwdMs, t1 - t0);
  updMs = Math.min(updMs, t2 - t1);
  const t3 = clock();
  globalNorm(tr.params.values()); // the clipping norm's pass, over arrays as large as the gradients
  clipMs = Math.min(clipMs, clock() - t3);
}
await tr.close();

// the optimiser alone on the same parameter count, to report element throughput
const p = new Map(trained.map((k) => [k, new Float32Array(numel(lossGraph.graph.params.get(k)!.shape))]));
const g = new Map([...p].map(([k, a]) => [k, a.map(() => 1e-3)]));
const opt = new AdamW();
const ema = new Ema(0.999);
ema.init(p);
opt.step(p, g, 1e-4);
// two passes (AdamW, then EMA: before issue 13) against one fused pass, alternated, best of `steps`
let adamMs = Infinity;
let emaMs = Infinity;
let fusedMs = Infinity;
for (let i = 0; i < 7; i++) {
  t0 = performance.now();
  opt.step(p, g, 1e-4);
  const t1 = performance.now();
  ema.update(p);
  const t2 = performance.now();
  opt.step(p, g, 1e-4, 1, ema);
  const t3 = performance.now();
  adamMs = Math.min(adamMs, t1 - t0);
  emaMs = Math.min(emaMs, t2 - t1);
  fusedMs = Math.min(fusedMs, t3 - t2);
}

console.log(`forward (loss only)          ${fwdMs.toFixed(0).padStart(7)} ms`);
console.log(`forward+backward             ${bwdMs.toFixed(0).padStart(7)} ms   ${(bwdMs / fwdMs).toFixed(2)}× forward`);
console.log(`optimiser update (clip+AdamW+EMA) ${updMs.toFixed(0).padStart(3)} ms   ${(100 * updMs / (bwdMs + updMs)).toFixed(1)}% of the step (of which the clipping norm ~${clipMs.toFixed(0)} ms)`);
console.log(`  AdamW alone ${adamMs.toFixed(1)} ms = ${(nParams / adamMs / 1e3).toFixed(0)} M params/s; EMA ${emaMs.toFixed(1)} ms; `
  + `AdamW+EMA fused ${fusedMs.toFixed(1)} ms = ${(fusedMs / (adamMs + emaMs)).toFixed(2)}× the two passes`);
console.log(`training step                ${(bwdMs + updMs).toFixed(0).padStart(7)} ms = ${(batch / ((bwdMs + updMs) / 1000)).toFixed(1)} samples/s`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (now ${rss()})`);
