// Training-loss graphs for the trainer to differentiate (autodiff.buildGradientGraph(graph, loss, wrt)).
// Every random quantity (posterior noise, diffusion noise, timesteps) is fed as an input, so a step is
// a pure function of its feeds and the trainer's seeded RNG reproduces it exactly.
import { Graph, type Value } from '../onnx/graph.ts';
import { klAutoencoderForward, vqAutoencoderForward } from './autoencoder.ts';
import {
  type AutoencoderConfig,
  type ClassEmbedderConfig,
  ConfigError,
  type TextEncoderConfig,
  type UNetConfig,
  autoencoderFactor,
  validateAutoencoderConfig,
  validateUNetConfig,
} from './config.ts';
import { classEmbedderForward, textEncoderForward } from './text-encoder.ts';
import { unetForward } from './unet.ts';

export interface LossGraph {
  graph: Graph;
  loss: Value; // scalar, also the graph output 'loss'
  /** Extra scalar outputs for logging (evaluation sessions; the gradient graph keeps only the loss). */
  metrics: Record<string, Value>;
  /**
   * Values autodiff must treat as constants (stop-gradient, e.g. the VQ straight-through estimator):
   * each is the output of an Identity node, correct in the forward pass. Empty for the other losses.
   */
  stopGradient: string[];
}

const ALL = [0, 1, 2, 3];

function meanAbs(g: Graph, a: Value, b: Value): Value {
  return g.reduceMean(g.abs(g.sub(a, b)), ALL, false);
}

/** Horizontal and vertical forward differences of an NCHW image. */
function imageGradients(g: Graph, x: Value): [Value, Value] {
  const [, , h, w] = x.shape as [number, number, number, number];
  const dx = g.sub(g.slice(x, [1], [w], [3]), g.slice(x, [0], [w - 1], [3]));
  const dy = g.sub(g.slice(x, [1], [h], [2]), g.slice(x, [0], [h - 1], [2]));
  return [dx, dy];
}

export interface AutoencoderLossOptions {
  batch: number;
  height: number;
  width: number;
  klWeight?: number; // 1e-6 as in LDM's kl-f* configs
  gradientWeight?: number; // L1 on image gradients, sharpens edges of flat art; 0 = off
}

/**
 * KL autoencoder: inputs `image` [B, 3, H, W] in [−1, 1] and `noise` [B, embedDim, H/f, W/f] ~ N(0, 1)
 * (the posterior sample z = μ + σ·noise). Loss = mean|x − x̂| + gradientWeight·(mean|∂x| + mean|∂y|
 * differences) + klWeight·KL, with KL summed over latent elements and divided by B·C·H·W: LDM sums
 * its L1 over pixels and divides by B, so this is LDM's loss divided by C·H·W and the same klWeight
 * keeps LDM's balance.
 * VQ autoencoder: input `image` only; loss = L1 terms + codebook/commitment loss; the straight-through
 * estimator needs the trainer to honour `stopGradient`.
 */
export function buildAutoencoderLossGraph(cfgIn: AutoencoderConfig, o: AutoencoderLossOptions): LossGraph {
  const cfg = validateAutoencoderConfig(cfgIn);
  const g = new Graph('autoencoder_loss');
  const f = autoencoderFactor(cfg);
  const image = g.input('image', 'float32', [o.batch, cfg.inChannels, o.height, o.width]);
  const metrics: Record<string, Value> = {};
  const stopGradient: string[] = [];
  let recon: Value;
  let reg: Value;
  if (cfg.kind === 'kl') {
    const noise = g.input('noise', 'float32', [o.batch, cfg.embedDim, o.height / f, o.width / f]);
    const out = klAutoencoderForward(g, cfg, image, noise);
    recon = out.reconstruction;
    // KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (μ² + σ² − 1 − log σ²)
    const { mean, logvar } = out;
    const kl = g.mul(g.reduceSum(g.sub(g.add(g.mul(mean, mean), g.exp(logvar)), g.add(logvar, 1)), ALL, false), 0.5);
    metrics.kl = g.div(kl, o.batch);
    reg = g.mul(kl, (o.klWeight ?? 1e-6) / (o.batch * cfg.inChannels * o.height * o.width));
  } else {
    const out = vqAutoencoderForward(g, cfg, image, (v) => {
      const held = g.identity(v);
      stopGradient.push(held.name);
      return held;
    });
    recon = out.reconstruction;
    reg = out.commitment;
    metrics.commitment = reg;
  }
  const l1 = meanAbs(g, image, recon);
  metrics.l1 = l1;
  let loss = g.add(l1, reg);
  if (o.gradientWeight) {
    const [ix, iy] = imageGradients(g, image);
    const [rx, ry] = imageGradients(g, recon);
    const gl = g.add(meanAbs(g, ix, rx), meanAbs(g, iy, ry));
    metrics.gradientL1 = gl;
    loss = g.add(loss, g.mul(gl, o.gradientWeight));
  }
  const lossOut = g.output(loss, 'loss');
  for (const [k, v] of Object.entries(metrics)) metrics[k] = g.output(v, k);
  return { graph: g, loss: lossOut, metrics, stopGradient };
}

export interface DiffusionLossOptions {
  batch: number;
  height: number; // latent size
  width: number;
  latentChannels: number; // channels of z0 and ε (the UNet's outChannels)
  textEncoder?: TextEncoderConfig; // trained jointly: input `input_ids`
  classEmbedder?: ClassEmbedderConfig; // class labels as a cross-attention context: input `class_labels`
  contextLength?: number; // when the context is fed precomputed (`encoder_hidden_states`)
  weighted?: boolean; // per-sample weights `loss_weights` [B] (min-SNR-γ: min(SNR, γ)/SNR, computed by the trainer)
}

/**
 * LDM ε-prediction loss. Inputs: `latents` z0 [B, C, h, w] (already scaled), `noise` ε [B, C, h, w],
 * `sqrt_alpha_bar` and `sqrt_one_minus_alpha_bar` [B] at each sample's timestep, `timestep_embedding`
 * [B, modelChannels]; conditioning `input_ids` (text encoder) | `class_labels` (class embedder or the
 * UNet's label_emb) | `encoder_hidden_states`; `concat` [B, inChannels − C, h, w] when the UNet takes
 * extra channels; `loss_weights` [B] when weighted. z_t = √ᾱ·z0 + √(1−ᾱ)·ε; loss = mean_b w_b·mean‖ε − ε̂‖².
 */
export function buildDiffusionLossGraph(unetIn: UNetConfig, o: DiffusionLossOptions): LossGraph {
  const cfg = validateUNetConfig(unetIn);
  const { batch: b, height: h, width: w, latentChannels: c } = o;
  if (cfg.outChannels !== c) throw new ConfigError(`UNet outChannels ${cfg.outChannels} must equal latentChannels ${c} for ε-prediction`);
  if (cfg.inChannels < c) throw new ConfigError(`UNet inChannels ${cfg.inChannels} is below latentChannels ${c}`);
  const g = new Graph('diffusion_loss');
  const z0 = g.input('latents', 'float32', [b, c, h, w]);
  const noise = g.input('noise', 'float32', [b, c, h, w]);
  const sa = g.reshape(g.input('sqrt_alpha_bar', 'float32', [b]), [b, 1, 1, 1]);
  const sb = g.reshape(g.input('sqrt_one_minus_alpha_bar', 'float32', [b]), [b, 1, 1, 1]);
  const temb = g.input('timestep_embedding', 'float32', [b, cfg.modelChannels]);

  let context: Value | undefined;
  let classLabels: Value | undefined;
  if (cfg.contextDim) {
    if (o.textEncoder) {
      const ids = g.input('input_ids', 'int64', [b, o.textEncoder.maxLength]);
      context = textEncoderForward(g, o.textEncoder, ids);
    } else if (o.classEmbedder) {
      context = classEmbedderForward(g, o.classEmbedder, g.input('class_labels', 'int64', [b]));
    } else {
      if (!o.contextLength) throw new ConfigError('diffusion loss: give textEncoder, classEmbedder or contextLength for a UNet with contextDim');
      context = g.input('encoder_hidden_states', 'float32', [b, o.contextLength, cfg.contextDim]);
    }
  } else if (o.textEncoder || o.classEmbedder) {
    throw new ConfigError('diffusion loss: a conditioning encoder was given but the UNet has no contextDim');
  }
  if (cfg.numClasses && o.classEmbedder) {
    throw new ConfigError('diffusion loss: use either the UNet\'s label_emb (numClasses) or a classEmbedder context, not both');
  }
  if (cfg.numClasses) classLabels = g.input('class_labels', 'int64', [b]);

  let sample = g.add(g.mul(z0, sa), g.mul(noise, sb));
  if (cfg.inChannels > c) sample = g.concat([sample, g.input('concat', 'float32', [b, cfg.inChannels - c, h, w])], 1);
  const eps = unetForward(g, cfg, { sample, timestepEmbedding: temb, context, classLabels });
  const d = g.sub(eps, noise);
  const perSample = g.reduceMean(g.mul(d, d), [1, 2, 3], false); // [B]
  const mse = g.reduceMean(perSample, [0], false);
  const loss = o.weighted ? g.reduceMean(g.mul(perSample, g.input('loss_weights', 'float32', [b])), [0], false) : mse;
  const lossOut = g.output(loss, 'loss');
  const metrics: Record<string, Value> = { per_sample_mse: g.output(perSample, 'per_sample_mse') };
  if (o.weighted) metrics.mse = g.output(mse, 'mse');
  return { graph: g, loss: lossOut, metrics, stopGradient: [] };
}
