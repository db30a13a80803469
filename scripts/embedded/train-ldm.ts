// Stage 2 of the embedded model: the text-conditional LDM. Latents of every image are computed once
// with the trained autoencoder (posterior mean and std, cached), the latent scale factor is measured
// from them, and the UNet and the word-level text encoder train jointly on ε-prediction with min-SNR-γ
// weighting and 10% caption dropout. Resumable from training/embedded/ldm.ckpt.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGradientGraph } from '../../electron/engine/autodiff/index.ts';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import type { TokenizerSpec } from '../../electron/engine/io/model-package.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import { autoencoderFactor } from '../../electron/engine/nn/config.ts';
import { buildDiffusionLossGraph } from '../../electron/engine/nn/losses.ts';
import { timestepEmbedding } from '../../electron/engine/nn/unet.ts';
import { loadCheckpoint, Trainer } from '../../electron/engine/training/index.ts';
import { AUTOENCODER, CACHE_DIR, CONTEXT_LENGTH, IMAGE_SIZE, LDM_TRAINING, UNET, WORK_DIR, textEncoderConfig } from './config.ts';
import { encodeMoments } from './latent-moments.ts';
import { latentScaleFactor } from './latent-scale.ts';
import { stepLogger } from './step-log.ts';
import { loadEmojiDataset } from './emoji-dataset.ts';
import { AE_CHECKPOINT, type StageOptions } from './train-autoencoder.ts';
import { noiseLevelFeeds } from './noise-feeds.ts';

export const LDM_CHECKPOINT = path.join(WORK_DIR, 'ldm.ckpt');
export const LATENTS_FILE = path.join(WORK_DIR, 'latents.bin');
export const LATENTS_META = path.join(WORK_DIR, 'latents.json');
export const TOKENIZER_FILE = path.join(WORK_DIR, 'tokenizer.json');

export interface LatentCache {
  /** posterior mean and std per image, unscaled: [count, 2, C, h, w] */
  moments: Float32Array;
  scaleFactor: number;
  channels: number;
  size: number;
}

/** Encodes the whole data set once with the trained autoencoder (posterior mean and std). */
export async function latentCache(): Promise<LatentCache> {
  const f = autoencoderFactor(AUTOENCODER);
  const size = IMAGE_SIZE / f;
  const channels = AUTOENCODER.embedDim;
  if (existsSync(LATENTS_FILE) && existsSync(LATENTS_META)) {
    const meta = JSON.parse(readFileSync(LATENTS_META, 'utf8')) as { scaleFactor: number; aeStep: number };
    const b = readFileSync(LATENTS_FILE);
    return { moments: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), scaleFactor: meta.scaleFactor, channels, size };
  }
  const ck = await loadCheckpoint(AE_CHECKPOINT);
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const per = channels * size * size;
  const count = ds.samples.length;
  const moments = await encodeMoments(ds, ck.params, 2);
  const scaleFactor = latentScaleFactor(moments, count, per, (i) => ds.samples[i]!.heldOut);
  writeFileSync(LATENTS_FILE, moments);
  writeFileSync(LATENTS_META, JSON.stringify({ scaleFactor, aeStep: ck.step }));
  return { moments, scaleFactor, channels, size };
}

export interface EmbeddedTokenizer {
  spec: TokenizerSpec;
  vocabSize: number;
  encode(text: string): BigInt64Array;
}

/** The word vocabulary of the training captions, in the format model.json ships and the pipelines read. */
export async function embeddedTokenizer(): Promise<EmbeddedTokenizer> {
  let tok: WordTokenizer;
  if (existsSync(TOKENIZER_FILE)) {
    tok = WordTokenizer.fromSpec(JSON.parse(readFileSync(TOKENIZER_FILE, 'utf8')));
  } else {
    const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
    tok = WordTokenizer.build(ds.samples.filter((s) => !s.heldOut).map((s) => s.caption), { maxLength: CONTEXT_LENGTH });
    writeFileSync(TOKENIZER_FILE, JSON.stringify(tok.toSpec()));
  }
  return {
    spec: { ...tok.toSpec() },
    vocabSize: tok.vocabSize,
    encode: (text) => BigInt64Array.from(tok.encode(text), (v) => BigInt(v)),
  };
}

export async function trainLdm(o: StageOptions): Promise<void> {
  const log = o.log ?? console.log;
  const ds = await loadEmojiDataset(IMAGE_SIZE, CACHE_DIR);
  const cache = await latentCache();
  const tok = await embeddedTokenizer();
  const textCfg = textEncoderConfig(tok.vocabSize);
  const { batch, lr, warmup, captionDropout, emaDecay, minSnrGamma } = LDM_TRAINING;
  const { channels: c, size: h } = cache;
  const lg = buildDiffusionLossGraph(UNET, { batch, height: h, width: h, latentChannels: c, textEncoder: textCfg, weighted: true });
  const graph = buildGradientGraph(lg.graph, lg.loss, [...lg.graph.params.keys()]);
  const opts = {
    graph,
    lr,
    schedule: { kind: 'warmup' as const, warmupSteps: warmup },
    adam: { weightDecay: 0.01 },
    clipNorm: 1,
    ema: { decay: emaDecay },
    seed: 2002,
    session: { threads: 2 },
    checkpoint: { file: LDM_CHECKPOINT, every: 50 },
  };
  const trainer = existsSync(LDM_CHECKPOINT) ? await Trainer.resume(opts, LDM_CHECKPOINT) : await Trainer.create(opts);
  const train = ds.samples.flatMap((s, i) => (s.heldOut ? [] : [i]));
  log(`ldm: ${train.length} training latents ${c}×${h}×${h}, scale ${cache.scaleFactor.toFixed(4)}, vocabulary ${tok.vocabSize}, ${trainer.trained.length} tensors, resuming at step ${trainer.step}`);

  const schedule = makeSchedule();
  const per = c * h * h;
  const latents = new Float32Array(batch * per);
  const ids = new BigInt64Array(batch * CONTEXT_LENGTH);
  const empty = tok.encode('');
  const deadline = Date.now() + o.minutes * 60_000;
  const report = stepLogger('ldm', log);
  while (Date.now() < deadline) {
    const rng = trainer.rng;
    const pick = rng.integers(batch, train.length);
    const eps = rng.normal(batch * per);
    const post = rng.normal(batch * per);
    const ts = rng.integers(batch, schedule.alphasCumprod.length);
    const drop = rng.uniform(batch);
    for (let b = 0; b < batch; b++) {
      const i = train[pick[b]!]!;
      const base = i * 2 * per;
      for (let k = 0; k < per; k++) {
        latents[b * per + k] = (cache.moments[base + k]! + cache.moments[base + per + k]! * post[b * per + k]!) * cache.scaleFactor;
      }
      ids.set(drop[b]! < captionDropout ? empty : tok.encode(ds.samples[i]!.caption), b * CONTEXT_LENGTH);
    }
    const r = await trainer.trainStep({
      latents: { dtype: 'float32', shape: [batch, c, h, h], data: latents },
      noise: { dtype: 'float32', shape: [batch, c, h, h], data: eps },
      ...noiseLevelFeeds(schedule.alphasCumprod, ts, minSnrGamma),
      timestep_embedding: timestepEmbedding(Array.from(ts), UNET.modelChannels),
      input_ids: { dtype: 'int64', shape: [batch, CONTEXT_LENGTH], data: ids },
    });
    report(r);
  }
  await trainer.save();
  await trainer.close();
}
