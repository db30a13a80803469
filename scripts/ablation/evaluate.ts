// The f-ablation's evaluation: one EMA snapshot of one variant (scripts/ablation/variants.ts) sampled
// and measured as `ldm eval` measures a model: prompts are the held-out captions cycled (sample i:
// prompt i mod 225, seed + i), DDIM 20 steps, classifier-free guidance 3, then FID, KID, precision/recall
// and prompt fidelity in the shipped emoji classifier's features (engine/eval measureSamples). Sampling
// runs B pictures per UNet call (batch-sampler.ts), so the pixel-space variant is affordable.
// `npm run train:default -- --stage ablation-eval --variant f4 --at 10 [--n 225] [--seed 0] [--batch 25]`
// writes <ABLATION_DIR>/<variant>/eval-<m>min.json (what report.ts reads) and eval-<m>min.png (the first
// 50 samples, 2×).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { defaultClassifierDir, loadEmojiClassifier, loadHeldOutEmoji } from '../../electron/engine/eval/classifier.ts';
import { heldOutCaptionPrompts, measureSamples, type EvalResult } from '../../electron/engine/eval/evaluate.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';
import { IMAGE_SIZE } from '../embedded/config.ts';
import { BatchSampler } from './batch-sampler.ts';
import { loadSnapshot, readLatentMeta } from './snapshot.ts';
import { ABLATION_DIR, SNAPSHOT_CPU_MINUTES, snapshotFile, variantByName, variantDir, type AblationVariant, type VariantName } from './variants.ts';

/**
 * The same for every row of the table: only the snapshot changes. n = 225, one sample per held-out
 * caption (fewer would prompt only the first concepts of the held-out list, which is ordered by category,
 * and cap recall), not the 250 aimed for: the pixel-space variant samples at ~3.5 s a picture on one shared
 * thread (20 steps × 2 for guidance at 32²) and every row had to fit beside the training on a 2-core
 * machine. 225 > the classifier's 128 features keeps FID's covariance full rank; KID is unbiased at any n.
 */
export const EVAL_SETTINGS = { sampler: 'ddim', steps: 20, guidance: 3, seed: 0, n: 225, batch: 25, threads: 1 } as const;

/** One evaluated snapshot: what report.ts tabulates and plots. */
export interface AblationEval {
  format: 'ldm-studio-ablation-eval/1';
  variant: VariantName;
  factor: number;
  /** 'kl' | 'vq', or 'pixel' for f=1 */
  autoencoderKind: string;
  latent: { channels: number; size: number };
  scaleFactor: number;
  /** the snapshot's CPU budget (minutes of the LDM's training) */
  cpuMinutes: number;
  snapshot: { steps: number; cpuSeconds: number };
  /** null for f=1 */
  autoencoder: { psnr: number | null; cpuSeconds: number | null; steps: number | null } | null;
  sampling: { n: number; seed: number; sampler: string; steps: number; guidance: number; batch: number; threads: number; seconds: number };
  /** The prompts of the grid's first row (samples 0–9). */
  firstPrompts: string[];
  metrics: Omit<EvalResult, 'samplingSeconds'>;
  evaluatedAt: string;
}

/** The row's file; another seed than EVAL_SETTINGS.seed (a repeat measuring sampling noise) gets its own, -seed<S>. */
export function evalFile(v: AblationVariant, cpuMinutes: number, root = ABLATION_DIR, seed: number = EVAL_SETTINGS.seed): string {
  return path.join(variantDir(v, root), `eval-${cpuMinutes}min${seedSuffix(seed)}.json`);
}

export function evalGridFile(v: AblationVariant, cpuMinutes: number, root = ABLATION_DIR, seed: number = EVAL_SETTINGS.seed): string {
  return path.join(variantDir(v, root), `eval-${cpuMinutes}min${seedSuffix(seed)}.png`);
}

const seedSuffix = (seed: number) => (seed === EVAL_SETTINGS.seed ? '' : `-seed${seed}`);

export interface EvaluateOptions {
  n?: number;
  seed?: number;
  batch?: number;
  threads?: number;
  root?: string;
  classifierDir?: string;
  log?: (line: string) => void;
}

export async function evaluateSnapshot(variant: string, cpuMinutes: number, o: EvaluateOptions = {}): Promise<AblationEval> {
  const v = variantByName(variant);
  const root = o.root ?? ABLATION_DIR;
  const log = o.log ?? console.log;
  const n = o.n ?? EVAL_SETTINGS.n;
  const seed = o.seed ?? EVAL_SETTINGS.seed;
  const batch = o.batch ?? EVAL_SETTINGS.batch;
  const threads = o.threads ?? EVAL_SETTINGS.threads;
  if (!Number.isInteger(n) || n < 4) throw new Error(`--n must be a whole number ≥ 4 (FID and precision/recall need a few samples), got ${n}`);
  if (!(cpuMinutes > 0)) throw new Error(`--at must be a snapshot's CPU minutes (e.g. 2.5, 5, 10), got ${cpuMinutes}`);

  if (!existsSync(snapshotFile(v, cpuMinutes, root))) {
    throw new Error(`${v.name} has no snapshot at ${cpuMinutes} CPU-minutes yet (${snapshotFile(v, cpuMinutes, root)}): train it with --stage ablation-ldm --variant ${v.name}; snapshots are taken at ${SNAPSHOT_CPU_MINUTES.join(', ')}`);
  }
  const snap = await loadSnapshot(v, cpuMinutes, root);
  const tok = WordTokenizer.fromSpec(snap.tokenizer);
  const classifierDir = o.classifierDir ?? defaultClassifierDir();
  const held = await loadHeldOutEmoji(classifierDir);
  const { prompts, labels } = heldOutCaptionPrompts(held);
  const sampler = await BatchSampler.open(
    {
      unet: v.unet,
      textEncoder: snap.textEncoderConfig,
      autoencoder: v.autoencoder,
      weights: { unet: snap.unet, textEncoder: snap.textEncoder, decoder: snap.decoder },
      scaleFactor: snap.scaleFactor,
      tokenize: (t) => tok.encode(t),
      imageSize: IMAGE_SIZE,
    },
    { batch, steps: EVAL_SETTINGS.steps, guidance: EVAL_SETTINGS.guidance, threads },
  );
  log(`ablation-eval ${v.name} @ ${cpuMinutes} CPU-min (step ${snap.steps}): ${n} samples, seed ${seed}, batch ${batch}, ${threads} thread(s)`);
  const t0 = performance.now();
  let samples: RgbImage[];
  try {
    const ps = Array.from({ length: n }, (_, i) => prompts[i % prompts.length]!);
    samples = await sampler.sample(ps, Array.from({ length: n }, (_, i) => seed + i), (done, total) => {
      const s = (performance.now() - t0) / 1000;
      log(`  ${done}/${total} sampled, ${(s / done).toFixed(2)} s/sample`);
    });
  } finally {
    await sampler.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const clf = await loadEmojiClassifier(classifierDir, { threads });
  let metrics;
  try {
    metrics = await measureSamples(samples, labels, clf, held);
  } finally {
    await clf.close();
  }
  const meta = v.autoencoder ? readLatentMeta(v, root) : null;
  const record: AblationEval = {
    format: 'ldm-studio-ablation-eval/1',
    variant: v.name,
    factor: v.factor,
    autoencoderKind: v.autoencoder ? v.autoencoder.kind : 'pixel',
    latent: { channels: v.latentChannels, size: v.latentSize },
    scaleFactor: snap.scaleFactor,
    cpuMinutes,
    snapshot: { steps: snap.steps, cpuSeconds: snap.cpuSeconds },
    autoencoder: meta ? { psnr: meta.autoencoderPsnr ?? null, cpuSeconds: meta.autoencoderCpuSeconds ?? null, steps: meta.autoencoderSteps ?? null } : null,
    sampling: { n, seed, sampler: EVAL_SETTINGS.sampler, steps: EVAL_SETTINGS.steps, guidance: EVAL_SETTINGS.guidance, batch, threads, seconds },
    firstPrompts: prompts.slice(0, 10),
    metrics,
    evaluatedAt: new Date().toISOString(),
  };
  mkdirSync(variantDir(v, root), { recursive: true });
  writeFileSync(evalFile(v, cpuMinutes, root, seed), JSON.stringify(record, null, 2) + '\n');
  await writeGrid(samples.slice(0, 50), 10, evalGridFile(v, cpuMinutes, root, seed));
  const m = metrics;
  log(`  FID ${m.fid.toFixed(2)}, KID×10³ ${(m.kid * 1e3).toFixed(2)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, prompt fidelity ${m.promptFidelity ? (m.promptFidelity.accuracy * 100).toFixed(1) + '%' : '—'}; sampling ${seconds.toFixed(0)} s`);
  return record;
}

/** Pictures in rows of `columns`, each shown at 2×, on white. */
export async function writeGrid(images: readonly RgbImage[], columns: number, file: string): Promise<void> {
  if (images.length === 0) return;
  const up = 2;
  const S = images[0]!.width;
  const rows = Math.ceil(images.length / columns);
  const W = columns * S * up;
  const H = rows * S * up;
  const canvas = Buffer.alloc(W * H * 3, 255);
  images.forEach((img, k) => {
    const [r, c] = [Math.floor(k / columns), k % columns];
    for (let y = 0; y < S * up; y++)
      for (let x = 0; x < S * up; x++)
        for (let ch = 0; ch < 3; ch++)
          canvas[((r * S * up + y) * W + c * S * up + x) * 3 + ch] = img.data[(Math.floor(y / up) * S + Math.floor(x / up)) * 3 + ch]!;
  });
  await sharp(canvas, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}
