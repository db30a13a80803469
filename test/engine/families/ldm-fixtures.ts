// Tiny versions of the paper's releases in their exact key layout (CompVis names, DDPM buffers, EMA copy,
// training-loss tensors of the first stages), written as a Lightning .ckpt in torch.save's layout and as
// .safetensors. Weights are seeded random values (no zero-initialised outputs, so every layer matters).
import { writeFileSync } from 'node:fs';
import { saveSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { Rng } from '../../../electron/engine/diffusion/index.ts';
import type { AutoencoderConfig, ClassEmbedderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { modelParams } from '../../../electron/engine/nn/models.ts';
import { ldmBertForward, type LdmBertConfig } from '../../../electron/engine/nn/ldm-bert.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';
import { torchSave, type Py, type Storage } from '../io/ckpt-writer.ts';

export const TINY_VQ_F4: AutoencoderConfig = {
  kind: 'vq', ch: 32, chMult: [1, 1, 2], numResBlocks: 1, attnResolutions: [], resolution: 256,
  inChannels: 3, outCh: 3, zChannels: 3, embedDim: 3, nEmbed: 16, beta: 0.25,
};
export const TINY_KL_F8: AutoencoderConfig = {
  kind: 'kl', ch: 32, chMult: [1, 1, 1, 2], numResBlocks: 1, attnResolutions: [32], resolution: 256,
  inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4,
};
/** kl-f4 style (a KL first stage with f=4), here with 4 latent channels as a home-trained one may have. */
export const TINY_KL_F4: AutoencoderConfig = {
  kind: 'kl', ch: 32, chMult: [1, 1, 2], numResBlocks: 1, attnResolutions: [], resolution: 256,
  inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4,
};
const unet = (o: Partial<UNetConfig>): UNetConfig => ({
  inChannels: 3, outChannels: 3, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [2],
  numHeadChannels: 32, transformerDepth: 1, contextDim: null, ...o,
});
/** CelebA-HQ / FFHQ style: VQ-f4 first stage, AttentionBlock UNet without context. */
export const TINY_UNCOND: UNetConfig = unet({ legacyAttention: true });
/** cin256-v2 style: SpatialTransformer attending to the class embedding. */
export const TINY_CIN: UNetConfig = unet({ contextDim: 32 });
export const TINY_CLASSES: ClassEmbedderConfig = { nClasses: 1001, embedDim: 32 };
/** bsr_sr style: low-res image concatenated (3 + 3 channels). */
export const TINY_SR: UNetConfig = unet({ inChannels: 6, legacyAttention: true });
/** A super-resolution model of bsr_sr's layout on a KL-f4 first stage (4 latent channels + 3 low-res). */
export const TINY_SR_KL: UNetConfig = unet({ inChannels: 7, outChannels: 4, legacyAttention: true });
/** inpainting_big style: masked-image latents + mask concatenated (3 + 3 + 1). */
export const TINY_INPAINT: UNetConfig = unet({ inChannels: 7, numHeadChannels: undefined, numHeads: 8, contextDim: null });

/** LDM-KL-8-G style: KL-f8 first stage, UNet cross-attending to a BERT-style τθ (8 heads). */
export const TINY_TXT2IMG: UNetConfig = unet({ inChannels: 4, outChannels: 4, numHeadChannels: undefined, numHeads: 8, contextDim: 32 });
/** The τθ: bert-base-uncased's 30,522 tokens, 77 positions, one 64-channel head as x-transformers splits it. */
export const TINY_BERT: LdmBertConfig = { vocabSize: 30522, maxLength: 77, width: 32, layers: 2, heads: 1, headDim: 64, ffMult: 4 };

function bertParams(cfg: LdmBertConfig) {
  const g = new Graph('bert');
  ldmBertForward(g, cfg, g.input('input_ids', 'int64', [1, cfg.maxLength]));
  return g.params;
}

function randomFor(cfg: Parameters<typeof modelParams>[0] & { bert?: LdmBertConfig }, seed: number): Map<string, TensorData<'float32'>> {
  const rng = new Rng(seed);
  const out = new Map<string, TensorData<'float32'>>();
  const params = [...modelParams(cfg).values(), ...(cfg.bert ? bertParams(cfg.bert).values() : [])];
  for (const p of params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = p.shape.length > 1 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const x = rng.normal(n).map((v) => (p.name.includes('norm') && p.name.endsWith('weight') ? 1 + 0.1 * v : v / Math.sqrt(fanIn)));
    out.set(p.name, tensor('float32', p.shape, x));
  }
  return out;
}

/** The DDPM buffers a LatentDiffusion state dict carries (linear schedule: β = linspace(√start, √end)²). */
function ddpmBuffers(start: number, end: number): Map<string, TensorData<'float32'>> {
  const T = 1000;
  const betas = new Float32Array(T);
  const ac = new Float32Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    const s = Math.sqrt(start) + ((Math.sqrt(end) - Math.sqrt(start)) * i) / (T - 1);
    betas[i] = s * s;
    prod *= 1 - s * s;
    ac[i] = prod;
  }
  return new Map([
    ['betas', tensor('float32', [T], betas)],
    ['alphas_cumprod', tensor('float32', [T], ac)],
    ['sqrt_alphas_cumprod', tensor('float32', [T], ac.map(Math.sqrt))],
  ]);
}

export type TinyRelease = 'vq-f4' | 'kl-f8' | 'uncond' | 'cin' | 'sr' | 'sr-kl' | 'inpaint' | 'txt2img';

const made = new Map<string, Map<string, TensorData>>();

/** The state dict of a tiny release, names as in the released file (made once per kind and seed). */
export function tinyStateDict(kind: TinyRelease, seed = 1): Map<string, TensorData> {
  const key = `${kind}:${seed}`;
  if (!made.has(key)) made.set(key, makeStateDict(kind, seed));
  return new Map(made.get(key)!);
}

function makeStateDict(kind: TinyRelease, seed: number): Map<string, TensorData> {
  if (kind === 'vq-f4' || kind === 'kl-f8') {
    const ae = randomFor({ autoencoder: kind === 'vq-f4' ? TINY_VQ_F4 : TINY_KL_F8 }, seed);
    const out = new Map<string, TensorData>();
    for (const [k, v] of ae) out.set(k.replace(/^first_stage_model\./, ''), v);
    // the training loss the first-stage checkpoints carry (LPIPS + PatchGAN discriminator)
    out.set('loss.logvar', tensor('float32', [], Float32Array.of(0)));
    out.set('loss.discriminator.main.0.weight', tensor('float32', [8, 3, 4, 4], new Float32Array(384).fill(0.01)));
    out.set('loss.perceptual_loss.lin0.model.1.weight', tensor('float32', [1, 64, 1, 1], new Float32Array(64).fill(0.1)));
    return out;
  }
  const u = { uncond: TINY_UNCOND, cin: TINY_CIN, sr: TINY_SR, 'sr-kl': TINY_SR_KL, inpaint: TINY_INPAINT, txt2img: TINY_TXT2IMG }[kind];
  const weights = randomFor({
    autoencoder: kind === 'txt2img' ? TINY_KL_F8 : kind === 'sr-kl' ? TINY_KL_F4 : TINY_VQ_F4,
    unet: u,
    ...(kind === 'cin' ? { classEmbedder: TINY_CLASSES } : {}),
    ...(kind === 'txt2img' ? { bert: TINY_BERT } : {}),
  }, seed);
  const out = new Map<string, TensorData>(weights);
  const [start, end] = kind === 'txt2img' ? [0.00085, 0.012] : [0.0015, kind === 'sr' || kind === 'sr-kl' ? 0.0155 : 0.0195];
  for (const [k, v] of ddpmBuffers(start, end)) out.set(k, v);
  // the EMA copy LitEma keeps: module names with the dots removed, plus its two buffers
  out.set('model_ema.decay', tensor('float32', [], Float32Array.of(0.9999)));
  out.set('model_ema.num_updates', tensor('int32', [], Int32Array.of(470000)));
  for (const [k, v] of weights) {
    // (a different average than the weights, so a test can tell which one was used)
    if (k.startsWith('model.diffusion_model.')) out.set(`model_ema.${k.slice('model.'.length).replace(/\./g, '')}`, tensor('float32', v.shape, (v.data as Float32Array).map((x) => x * 0.9)));
  }
  return out;
}

function storageOf(t: TensorData): Storage {
  const d = t.data;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return { dtype: t.dtype === 'int32' ? 'I32' : 'F32', bytes };
}

/** Writes the release as a Lightning .ckpt (torch.save layout) and as .safetensors. */
export async function writeTinyRelease(kind: TinyRelease, ckptPath: string | null, safetensorsPath: string | null, seed = 1): Promise<Map<string, TensorData>> {
  const sd = tinyStateDict(kind, seed);
  if (ckptPath) {
    const entries: [string, Py][] = [...sd].map(([k, t]) => [k, { $tensor: { storage: storageOf(t), shape: [...t.shape] } }]);
    writeFileSync(ckptPath, torchSave({ $dict: [['epoch', 3], ['global_step', 470000], ['state_dict', { $odict: entries }]] }, 'archive'));
  }
  if (safetensorsPath) await saveSafetensors(safetensorsPath, sd);
  return sd;
}
