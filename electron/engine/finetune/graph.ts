// The fine-tuning training graph: the UNet's loss on cached latents (target ε, or v for v-prediction models), with LoRA branches
// (lora), every UNet weight (full) or one new token embedding through the frozen text encoder (ti)
// as the trained params. Frozen weights become initializers, so each step feeds only the trained
// tensors and checkpoints hold only what is trained.
import { buildGradientGraph } from '../autodiff/index.ts';
import type { Prediction } from '../families/index.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import type { TextEncoderConfig, UNetConfig } from '../nn/config.ts';
import { setLayerHooks } from '../nn/layers.ts';
import { textEncoderForward } from '../nn/text-encoder.ts';
import { unetForward } from '../nn/unet.ts';
import { FinetuneError } from './errors.ts';
import type { LoraModule } from './lora.ts';
import { chooseRecompute, type TrainingMemory } from './memory.ts';
import type { FinetuneMethodModule, MethodSetup } from './methods/method.ts';

export { FinetuneError } from './errors.ts';

export interface FinetuneGraphOptions {
  readonly method: FinetuneMethodModule;
  readonly setup: MethodSetup;
  /** What the UNet predicts, so what it is trained toward: ε, or v = √ᾱ·ε − √(1−ᾱ)·x₀. */
  readonly prediction?: Prediction;
  readonly unet: UNetConfig;
  readonly textEncoder: TextEncoderConfig;
  readonly batch: number;
  /** Latent size and channels. */
  readonly height: number;
  readonly width: number;
  readonly latentChannels: number;
  /** Base model weights (LDM names); frozen ones become initializers. */
  readonly base: ReadonlyMap<string, Float32Array>;
  /**
   * Frozen weights stay params of the graph (the trainer then serialises them from its `frozen` source,
   * e.g. external data in the base's file) instead of constants read from `base`.
   */
  readonly frozenAsParams?: boolean;
  /**
   * Activation recomputation per block (autodiff `recompute`): less memory, about one more forward pass.
   * 'auto' (default): on when the estimated step memory exceeds `memoryBudget` (finetune/memory.ts).
   */
  readonly recompute?: boolean | 'auto';
  readonly memoryBudget?: number;
  /** With an EMA of the trained weights (counted in the estimate). */
  readonly ema?: boolean;
}

export interface FinetuneGraph {
  /** Gradient graph: outputs `loss` and `grad:<name>` for each trained param. */
  readonly graph: Graph;
  /** The step's estimated memory, and whether activations are recomputed. */
  readonly memory: TrainingMemory;
  readonly trained: readonly string[];
  /** The layers the method adapted with LoRA branches (none for other methods). */
  readonly loraModules: readonly LoraModule[];
}

/**
 * Inputs: `latents` (scaled z0), `noise`, `sqrt_alpha_bar`, `sqrt_one_minus_alpha_bar` [B],
 * `timestep_embedding`; `encoder_hidden_states` (the frozen text encoder's output, cached), or
 * `input_ids` when the text encoder trains (ti, with `ti_mask`; LoRA with the 'text' target). `loss_weights` [B].
 * Loss = mean_b w_b·mean ‖y − ŷ‖², y = ε (ε-prediction) or v = √ᾱ·ε − √(1−ᾱ)·x₀ (v-prediction).
 */
export function buildFinetuneGraph(o: FinetuneGraphOptions): FinetuneGraph {
  const { batch: b, height: h, width: w, latentChannels: c, unet, textEncoder } = o;
  const g = new Graph(`finetune_${o.method.name}`);
  const modules: LoraModule[] = [];
  const hooks = o.method.hooks(o.setup, unet, textEncoder, (m) => modules.push(m));
  if (hooks) setLayerHooks(g, hooks);
  const z0 = g.input('latents', 'float32', [b, c, h, w]);
  const noise = g.input('noise', 'float32', [b, c, h, w]);
  const sa = g.reshape(g.input('sqrt_alpha_bar', 'float32', [b]), [b, 1, 1, 1]);
  const sb = g.reshape(g.input('sqrt_one_minus_alpha_bar', 'float32', [b]), [b, 1, 1, 1]);
  const temb = g.input('timestep_embedding', 'float32', [b, unet.modelChannels]);
  let context: Value;
  // The text encoder runs in the graph only when something in it trains; otherwise its output is fed.
  if (o.method.trainsText(o.setup)) {
    context = textEncoderForward(g, textEncoder, g.input('input_ids', 'int64', [b, textEncoder.maxLength]));
  } else {
    context = g.input('encoder_hidden_states', 'float32', [b, textEncoder.maxLength, textEncoder.width]);
  }
  const sample = g.add(g.mul(z0, sa), g.mul(noise, sb));
  const predicted = unetForward(g, unet, { sample, timestepEmbedding: temb, context });
  const target = o.prediction === 'v_prediction' ? g.sub(g.mul(noise, sa), g.mul(z0, sb)) : noise;
  const d = g.sub(predicted, target);
  // Per-sample weights (min-SNR-γ, or 1): loss = mean_b w_b·mean‖y − ŷ‖².
  const perSample = g.reduceMean(g.mul(d, d), [1, 2, 3], false);
  const loss = g.output(g.reduceMean(g.mul(perSample, g.input('loss_weights', 'float32', [b])), [0], false), 'loss');

  const trained = [...g.params.keys()].filter((name) => o.method.isTrained(name, o.base));
  if (trained.length === 0) throw new FinetuneError(`nothing to train: the ${o.method.name} graph has no trainable weights (no LoRA target matched?)`);
  const memory = chooseRecompute(g, loss.name, new Set(trained), o.recompute ?? 'auto', o.memoryBudget, o.ema);
  if (!o.frozenAsParams) freeze(g, new Set(trained), o.base);
  return { graph: buildGradientGraph(g, loss, trained, { recompute: memory.recompute }), memory, trained, loraModules: modules };
}

function freeze(g: Graph, trained: ReadonlySet<string>, base: ReadonlyMap<string, Float32Array>): void {
  for (const [name, p] of [...g.params]) {
    if (trained.has(name)) continue;
    const data = base.get(name);
    if (!data) throw new FinetuneError(`the base model has no weight '${name}'; its weights do not match its architecture`);
    if (data.length !== p.shape.reduce((a, x) => a * x, 1)) throw new FinetuneError(`base weight '${name}' has ${data.length} values, [${p.shape.join(', ')}] expected`);
    g.params.delete(name);
    g.constants.set(name, { dtype: 'float32', shape: p.shape, data });
  }
}
