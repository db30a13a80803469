// The f=4 vs f=8 trade-off for the embedded model's autoencoder: the same recipe, seed and number of
// steps for both, then held-out reconstruction PSNR and the latent size the LDM would work on.
// `npx tsx scripts/embedded/compare-factors.ts [steps]`
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { autoencoderFactor, type AutoencoderConfig } from '../../electron/engine/nn/config.ts';
import { buildAutoencoderLossGraph } from '../../electron/engine/nn/losses.ts';
import { Trainer } from '../../electron/engine/training/index.ts';
import { AE_TRAINING, AUTOENCODER, CACHE_DIR, IMAGE_SIZE } from './config.ts';
import { loadEmojiDataset, sampleAsFloat } from './emoji-dataset.ts';
import { autoencoderPsnr } from './train-autoencoder.ts';

const steps = Number(process.argv[2] ?? 150);
const F8: AutoencoderConfig = { ...AUTOENCODER, chMult: [1, 2, 2, 2] };

async function trainFor(cfg: AutoencoderConfig): Promise<{ psnr: number; seconds: number }> {
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const train = ds.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  const { batch, lr, klWeight, gradientWeight } = AE_TRAINING;
  const lg = buildAutoencoderLossGraph(cfg, { batch, height: IMAGE_SIZE, width: IMAGE_SIZE, klWeight, gradientWeight });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const t = await Trainer.create({ graph, lr, schedule: { kind: 'warmup', warmupSteps: 100 }, adam: { beta1: 0.5, beta2: 0.9, weightDecay: 0 }, clipNorm: 1, seed: 1001, session: { threads: 2 } });
  const f = autoencoderFactor(cfg);
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const zShape = [batch, cfg.embedDim, IMAGE_SIZE / f, IMAGE_SIZE / f];
  const image = new Float32Array(batch * n);
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const pick = t.rng.integers(batch, train.length);
    for (let b = 0; b < batch; b++) sampleAsFloat(ds, train[pick[b]!]!, image, b * n);
    await t.trainStep({
      image: { dtype: 'float32', shape: [batch, 3, IMAGE_SIZE, IMAGE_SIZE], data: image },
      noise: { dtype: 'float32', shape: zShape, data: t.rng.normal(zShape.reduce((a, b) => a * b, 1)) },
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const { psnr } = await autoencoderPsnr(t.exportParams(), cfg);
  await t.close();
  return { psnr, seconds };
}

for (const cfg of [AUTOENCODER, F8]) {
  const f = autoencoderFactor(cfg);
  const r = await trainFor(cfg);
  console.log(`f=${f}: latent ${IMAGE_SIZE / f}×${IMAGE_SIZE / f}×${cfg.embedDim}, ${steps} steps in ${r.seconds.toFixed(0)} s, held-out PSNR ${r.psnr.toFixed(2)} dB`);
}
