// The downsampling-factor ablation (issue 14, item 4; the paper's Fig. 6 at emoji scale): text-to-image
// LDMs on the embedded model's data, captions, held-out split, recipe and seed (scripts/embedded), for
// f ∈ {1, 2, 4, 8} with a KL autoencoder and f=4 with a VQ one, each LDM trained for the same CPU time.
//
// Interface (the evaluation half codes against it):
// - VARIANTS / variantByName(name): each variant's autoencoder (null for f1: pixel space, 3×32×32 in
//   [−1, 1], scale factor 1) and UNet. The UNet is config.ts UNET with in/out channels = latent channels;
//   the text encoder is textEncoderConfig(vocabulary of the SHIPPED emoji-ldm-32 tokenizer) for all, so a
//   prompt means the same thing to every variant. f4 is the embedded recipe exactly.
// - Files under ABLATION_DIR/<name>/ (git-ignored):
//   autoencoder.ckpt   trainer checkpoint of the autoencoder (AE_TRAINING, from scratch, AE_CPU_MINUTES)
//   latents.json       latentMetaFile: { scaleFactor, autoencoderPsnr, autoencoderCpuSeconds, autoencoderSteps, ... }
//                      (f1: scaleFactor 1, no autoencoder fields)
//   latents.bin        the encoded data set: KL [count, 2, C, h, w] posterior mean and std; VQ [count, C, h, w]
//                      the pre-quantisation latent (CompVis encode_first_stage; the decoder quantises)
//   ldm.ckpt           resumable trainer checkpoint of the LDM (UNet + text encoder); extra.cpuSeconds is
//                      the CPU time (user + system) spent training it so far
//   ldm-<m>min.ckpt    snapshotFile(v, m): EMA weights when that CPU budget was passed, read with
//                      loadSnapshot(v, m) from ./snapshot.ts
//   train-*.log        the runs' logs
// - ABLATION_DIR/STATUS.md lists what is done.
// - LDM_CPU_MINUTES: the equal CPU budget per LDM; SNAPSHOT_CPU_MINUTES: when EMA snapshots are written.
// Training: `npm run train:default -- --stage ablation-autoencoder|ablation-ldm --variant <name> [--minutes N]`.
import path from 'node:path';
import type { AutoencoderConfig, UNetConfig } from '../../electron/engine/nn/config.ts';
import { AUTOENCODER, IMAGE_SIZE, UNET } from '../embedded/config.ts';

export type VariantName = 'f1' | 'f2' | 'f4' | 'f8' | 'f4-vq';

export interface AblationVariant {
  name: VariantName;
  factor: number;
  /** null for f1 (pixel space) */
  autoencoder: AutoencoderConfig | null;
  /** in/out channels = latent channels */
  unet: UNetConfig;
  latentChannels: number;
  latentSize: number;
}

export const ABLATION_DIR = 'training/ablation';
/**
 * The equal CPU budget (user + system of the training process) of every LDM. 10 was planned; the shared
 * 2-core machine first gave these runs about half a core, so they stopped at 4 and were then continued
 * (resuming from their checkpoints) to 8.
 */
export const LDM_CPU_MINUTES = 8;
/** EMA snapshots are saved when an LDM's CPU time passes these. */
export const SNAPSHOT_CPU_MINUTES: readonly number[] = [1, 2, 4, 8];
/** The CPU budget of every autoencoder, trained from scratch with AE_TRAINING. */
export const AE_CPU_MINUTES = 6;
/** Codebook size of the f4-vq autoencoder. */
export const VQ_CODEBOOK = 256;

const LATENT_CHANNELS = AUTOENCODER.embedDim;

function kl(chMult: number[]): AutoencoderConfig {
  return { ...AUTOENCODER, chMult };
}

function variant(name: VariantName, autoencoder: AutoencoderConfig | null): AblationVariant {
  const factor = autoencoder ? 2 ** (autoencoder.chMult.length - 1) : 1;
  const latentChannels = autoencoder ? autoencoder.embedDim : 3;
  return {
    name,
    factor,
    autoencoder,
    unet: { ...UNET, inChannels: latentChannels, outChannels: latentChannels },
    latentChannels,
    latentSize: IMAGE_SIZE / factor,
  };
}

export const VARIANTS: readonly AblationVariant[] = [
  variant('f1', null),
  variant('f2', kl([1, 2])),
  variant('f4', AUTOENCODER),
  variant('f8', kl([1, 2, 2, 2])),
  variant('f4-vq', { ...AUTOENCODER, kind: 'vq', zChannels: LATENT_CHANNELS, embedDim: LATENT_CHANNELS, nEmbed: VQ_CODEBOOK, beta: 0.25 }),
];

export function variantByName(name: string): AblationVariant {
  const v = VARIANTS.find((x) => x.name === name);
  if (!v) throw new Error(`unknown ablation variant '${name}': use one of ${VARIANTS.map((x) => x.name).join(', ')}`);
  return v;
}

// `root` is ABLATION_DIR except in tests.
export function variantDir(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(root, v.name);
}

export function autoencoderCheckpoint(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), 'autoencoder.ckpt');
}

export function ldmCheckpoint(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), 'ldm.ckpt');
}

export function snapshotFile(v: AblationVariant, cpuMinutes: number, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), `ldm-${cpuMinutes}min.ckpt`);
}

export function latentMetaFile(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), 'latents.json');
}

export function latentsFile(v: AblationVariant, root = ABLATION_DIR): string {
  return path.join(variantDir(v, root), 'latents.bin');
}

export const STATUS_FILE = path.join(ABLATION_DIR, 'STATUS.md');

/** What latentMetaFile holds. */
export interface LatentMeta {
  variant: VariantName;
  factor: number;
  /** multiply the autoencoder's latent by it before diffusion (1 for f1) */
  scaleFactor: number;
  latentChannels: number;
  latentSize: number;
  /** how latents.bin is laid out per picture: 'moments' (KL mean then std), 'latent' (VQ), 'pixels' (f1: none written) */
  layout: 'moments' | 'latent' | 'pixels';
  autoencoderPsnr?: number;
  autoencoderCpuSeconds?: number;
  autoencoderSteps?: number;
}
