// Each variant's first-stage floor: the held-out emoji encoded and decoded by its autoencoder (KL: the
// posterior mean; VQ: quantised by the decoder), measured against the originals exactly as the samples
// are (engine/eval measureSamples, prompt labels = the pictures' own classes). An LDM whose latents were
// perfect could not score better than this, so it shows what a larger f costs in detail.
// `npm run train:default -- --stage ablation-reconstruction` writes <ABLATION_DIR>/<variant>/reconstruction.json.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultClassifierDir, loadEmojiClassifier, loadHeldOutEmoji } from '../../electron/engine/eval/classifier.ts';
import { measureSamples, type EvalResult } from '../../electron/engine/eval/evaluate.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../electron/engine/nn/models.ts';
import type { Graph } from '../../electron/engine/onnx/graph.ts';
import { createSession } from '../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../electron/engine/onnx/serialize.ts';
import { imageToTensor, tensorToImage, type RgbImage } from '../../electron/engine/pipelines/image.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { IMAGE_SIZE } from '../embedded/config.ts';
import { ABLATION_DIR, autoencoderCheckpoint, VARIANTS, variantDir, type AblationVariant } from './variants.ts';

export interface ReconstructionEval {
  variant: string;
  autoencoderSteps: number;
  metrics: Omit<EvalResult, 'samplingSeconds'>;
}

export function reconstructionFile(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), 'reconstruction.json');
}

async function sessionOf(g: Graph, params: ReadonlyMap<string, Float32Array>) {
  return createSession(toModelProto(g, { kind: 'embedded', get: (n) => ({ dtype: 'float32', shape: g.params.get(n)!.shape, data: params.get(n)! }) }), { provider: 'cpu', threads: 1 });
}

/** The held-out pictures through the variant's autoencoder and back. */
export async function reconstruct(v: AblationVariant, images: readonly RgbImage[], params: ReadonlyMap<string, Float32Array>): Promise<RgbImage[]> {
  const ae = v.autoencoder!;
  const B = 25;
  const h = v.latentSize;
  const enc = await sessionOf(buildVaeEncoderGraph(ae, B, IMAGE_SIZE, IMAGE_SIZE), params);
  const dec = await sessionOf(buildVaeDecoderGraph(ae, B, h, h), params);
  const n = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const c = ae.embedDim;
  const out: RgbImage[] = [];
  try {
    for (let start = 0; start < images.length; start += B) {
      const m = Math.min(B, images.length - start);
      const x = new Float32Array(B * n);
      for (let i = 0; i < m; i++) x.set(imageToTensor(images[start + i]!).data, i * n);
      const moments = (await enc.run({ sample: tensor('float32', [B, 3, IMAGE_SIZE, IMAGE_SIZE], x) })).latent_parameters!;
      const mc = moments.shape[1]!;
      const z = new Float32Array(B * c * h * h);
      for (let i = 0; i < B; i++) z.set((moments.data as Float32Array).subarray(i * mc * h * h, (i * mc + c) * h * h), i * c * h * h);
      const y = (await dec.run({ latent_sample: tensor('float32', [B, c, h, h], z) })).sample!.data as Float32Array;
      for (let i = 0; i < m; i++) out.push(tensorToImage(tensor('float32', [1, 3, IMAGE_SIZE, IMAGE_SIZE], y.slice(i * n, (i + 1) * n))));
    }
  } finally {
    await Promise.all([enc.release(), dec.release()]);
  }
  return out;
}

export async function measureReconstructions(o: { root?: string; log?: (s: string) => void } = {}): Promise<void> {
  const root = o.root ?? ABLATION_DIR;
  const log = o.log ?? console.log;
  const dir = defaultClassifierDir();
  const held = await loadHeldOutEmoji(dir);
  const clf = await loadEmojiClassifier(dir, { threads: 1 });
  try {
    for (const v of VARIANTS) {
      if (!v.autoencoder) continue;
      const ck = await loadCheckpoint(autoencoderCheckpoint(v, root));
      const recon = await reconstruct(v, held.images, ck.params);
      const metrics = await measureSamples(recon, held.labels, clf, held);
      const record: ReconstructionEval = { variant: v.name, autoencoderSteps: ck.step, metrics };
      writeFileSync(reconstructionFile(v, root), JSON.stringify(record, null, 2) + '\n');
      log(`${v.name}: reconstructions of the ${held.images.length} held-out emoji: FID ${metrics.fid.toFixed(2)}, KID×10³ ${(metrics.kid * 1e3).toFixed(2)}, classifier accuracy ${((metrics.promptFidelity?.accuracy ?? 0) * 100).toFixed(1)}%`);
    }
  } finally {
    await clf.close();
  }
}
