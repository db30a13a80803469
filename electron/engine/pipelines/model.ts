// What a pipeline needs from a loaded model: the four networks as async functions over tensors, plus
// the few facts the loop uses. loaded-model.ts implements it over onnxruntime sessions; diffusers ONNX
// folders can implement it too.
import type { SamplingDefaults } from '../io/model-package.ts';
import type { TensorData } from '../tensor.ts';
import type { PreviewProjection } from './preview.ts';

export type { SamplingDefaults };

export interface TextOptions {
  /** A1111's "Clip skip" (1 = the text encoder's last layer; n: layer −n, then the final LayerNorm). */
  readonly clipSkip?: number;
}

export interface DiffusionModel {
  readonly name: string;
  /** Short content hash for metadata (A1111 "Model hash"). */
  readonly hash: string;
  readonly latentChannels: number;
  /** Image pixels per latent pixel along each side (f). */
  readonly downscale: number;
  /** UNet input channels: latentChannels, or 2·latentChannels + 1 for inpainting models. */
  readonly unetInChannels: number;
  readonly preview: PreviewProjection | null;
  readonly defaults: Readonly<SamplingDefaults>;
  /** Extra options for createSampler from the model's scheduler config (schedule, spacing, …). */
  readonly schedulerConfig: Readonly<Record<string, unknown>>;

  /** Prompts → context [B, L, D] for cross-attention. */
  encodeText(prompts: readonly string[], options?: TextOptions): Promise<TensorData<'float32'>>;
  /** ε prediction for x [B, Cin, h, w] at one timestep with context [B, L, D]. */
  predictNoise(x: TensorData<'float32'>, timestep: number, context: TensorData<'float32'>): Promise<TensorData<'float32'>>;
  /** Picture [1, 3, H, W] in [-1, 1] → scaled latents [1, C, H/f, W/f] (posterior mean × scale factor). */
  encodeImage(image: TensorData<'float32'>): Promise<TensorData<'float32'>>;
  /** Scaled latents [1, C, h, w] → picture [1, 3, h·f, w·f] in [-1, 1]. */
  decodeLatents(latents: TensorData<'float32'>): Promise<TensorData<'float32'>>;
}
