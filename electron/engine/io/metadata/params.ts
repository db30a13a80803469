// The one normalised shape every reader in this folder fills (and generation-params.ts writes).

/** The tool whose metadata the parameters were read from. */
export type ParamsSource = 'a1111' | 'comfyui' | 'invokeai' | 'fooocus' | 'novelai';

export interface Size {
  width: number;
  height: number;
}

/** Every field named after the infotext key A1111 writes for it (metadata/fields.ts holds the table). */
export interface GenerationParams {
  prompt: string;
  negative: string;
  /** Steps */
  steps?: number;
  /** Sampler: A1111's label ('Euler a', 'DPM++ 2M'; older files: 'DPM++ 2M Karras'), or as the tool wrote it when A1111 has none. */
  sampler?: string;
  /** Schedule type ('Karras', 'Exponential', …; A1111 1.9+). */
  scheduleType?: string;
  /** CFG scale */
  cfg?: number;
  seed?: number;
  /** Size: what the tool generated, not the file's pixel size (the picture may have been cropped since). */
  width?: number;
  height?: number;
  model?: string;
  modelHash?: string;
  vae?: string;
  vaeHash?: string;
  variationSeed?: number;
  /** Variation seed strength */
  variationStrength?: number;
  seedResizeFrom?: Size;
  /** img2img / inpaint / second-pass denoising strength. */
  strength?: number;
  clipSkip?: number;
  /** Eta noise seed delta. */
  ensd?: number;
  /** Random number generator source: A1111 writes 'CPU' or 'NV' and leaves the line out for its default, GPU. */
  rng?: string;
  hiresUpscale?: number;
  hiresSteps?: number;
  hiresUpscaler?: string;
  hiresResize?: Size;
  /** Lora hashes: name → short hash. */
  loraHashes?: Record<string, string>;
  /** TI hashes: embedding name → short hash. */
  tiHashes?: Record<string, string>;
  version?: string;
  /** Every other key, value as text. */
  extras: Record<string, string>;
  /** Which tool's format it was read from (absent on params we build). */
  source?: ParamsSource;
}
