// Models registry: the embedded model(s), imported models and models trained here.
import { z } from 'zod';
import { request } from './contract.ts';

export const modelKind = z.enum(['ldm', 'lora', 'vae', 'embedding']);
export const predictionType = z.enum(['epsilon', 'v_prediction']);
/** How the UNet's and text encoder's linear weights are held for sampling (engine/nn/quantize.ts). */
export const weightPrecision = z.enum(['fp32', 'int8', 'int4']);
/** 'diffusers': a diffusers Stable Diffusion folder (model_index.json, unet/ vae/ text_encoder/ …). */
export const modelFormat = z.enum(['package', 'safetensors', 'onnx', 'diffusers']);

/** Sampling defaults as the model package (model.json `sampling`) or the model's family states them. */
export const samplingDefaults = z.object({
  sampler: z.string(),
  steps: z.number().int(),
  guidance: z.number(),
  /** The native size: what the model was trained at. */
  width: z.number().int(),
  height: z.number().int(),
});

/** What a diffusion model says about itself (services/model-traits.ts); null for LoRAs, VAEs, embeddings. */
export const modelTraits = z.object({
  /** The family module that opens it ('package', 'sd1', 'sd2', …). */
  family: z.string(),
  /**
   * What it makes: 'txt2img', 'inpaint', 'class2img' (a class instead of a prompt), 'unconditional' (no
   * prompt), 'upscale' (super-resolution: an `upscale` job), 'autoencoder'.
   */
  task: z.string(),
  prediction: predictionType,
  /** Class-conditional models: how many classes it knows. */
  classCount: z.number().int().nullable(),
  /** Class-conditional models: the class names by index (what the Generate view offers): ImageNet's, or the model's own. */
  classNames: z.array(z.string()).nullable().optional(),
  /** What the class names are, for the class picker's wording: 'ImageNet classes', or 'classes'. */
  classSet: z.string().nullable().optional(),
  /**
   * Picture sides the model takes are multiples of this many pixels: the autoencoder's downscale factor
   * times 2 for each time the UNet halves the latents (16 for the embedded model, 64 for SD 1.x).
   */
  sizeStep: z.number().int().optional(),
  defaults: samplingDefaults,
});

export const modelInfo = z.object({
  id: z.string(),
  name: z.string(),
  kind: modelKind,
  format: modelFormat,
  source: z.enum(['embedded', 'imported', 'trained']),
  /** sha256 of the weights, hex; A1111's short "Model hash" is its first 10 characters. */
  hash: z.string(),
  sizeBytes: z.number(),
  licence: z.string().nullable(),
  description: z.string().nullable(),
  /** Absolute path of the package folder or file. */
  path: z.string(),
  /** For LoRAs and fine-tunes: the model they were trained on. */
  baseModelId: z.string().nullable(),
  createdAt: z.number(),
  /**
   * The user's prediction-type setting (Models view, `--prediction`): it wins over what the file says;
   * null = the file's or its family's (traits.prediction is what is used).
   */
  prediction: predictionType.nullable().optional(),
  /** The VAE (a model of kind 'vae') used instead of the model's own autoencoder; null = its own (A1111's SD VAE setting, per model). */
  vaeId: z.string().nullable().optional(),
  /** "Low memory": linear weights quantised to int8/int4 at load (`ldm generate --weights`); fp32 when absent. */
  weights: weightPrecision.optional(),
  /** Filled by models.list / models.get for diffusion models. */
  traits: modelTraits.nullable().optional(),
  /**
   * Filled by models.list / models.get: the model inpaint jobs on this one run on, its inpainting
   * counterpart (a package of kind 'inpaint' naming it as base, services/inpaint-model.ts); null: itself.
   */
  inpaintedBy: z.object({ id: z.string(), name: z.string() }).nullable().optional(),
});

export const modelValidation = z.object({
  ok: z.boolean(),
  kind: modelKind.nullable(),
  format: modelFormat.nullable(),
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
  /** When it cannot be used: one plain sentence for the user ("not a model file: …"); `errors` hold the technical detail. */
  summary: z.string().nullable().optional(),
});

/** What models.details reads from a model's files (Models view's details panel). */
export const modelDetails = z.object({
  id: z.string(),
  /** The model's files, relative to its folder (a single file: its name), largest first; at most 200. */
  files: z.array(z.object({ path: z.string(), bytes: z.number() })),
  /** How many files there are in all (files may list fewer). */
  fileCount: z.number().int(),
  /** The package's README / model card and its licence file, when it has them (text, cut at 64 KiB). */
  card: z.object({ file: z.string(), text: z.string() }).nullable(),
  licenceText: z.object({ file: z.string(), text: z.string() }).nullable(),
  /** LoRAs: words to put in the prompt: our trainer's trigger word, then the dataset's most frequent tags (kohya ss_tag_frequency). */
  triggerWords: z.array(z.string()),
  /** LoRAs: the name it was trained under (kohya ss_output_name), the base model it names (ss_sd_model_name). */
  outputName: z.string().nullable(),
  trainedOn: z.string().nullable(),
});

export const modelsRequests = {
  'models.list': request(z.object({ kind: modelKind.optional() }), z.array(modelInfo)),
  'models.get': request(z.object({ id: z.string() }), modelInfo),
  /** Checks a file or folder without importing it. */
  'models.validate': request(z.object({ path: z.string().min(1) }), modelValidation),
  /** Validates, copies into the data folder's models/ and registers; fails with the validation errors. */
  'models.import': request(z.object({ path: z.string().min(1), name: z.string().max(200).optional() }), modelInfo),
  /** Sets (or with null clears) what the model predicts, for files that do not say (SD 2.x 768-v). */
  'models.setPrediction': request(z.object({ id: z.string(), prediction: predictionType.nullable() }), modelInfo),
  /** Sets (or with null clears) the VAE a diffusion model uses instead of its own autoencoder (e.g. SD's ft-MSE). */
  'models.setVae': request(z.object({ id: z.string(), vaeId: z.string().nullable() }), modelInfo),
  /** How the model's linear weights are held for sampling: fp32, or int8/int4 quantised at load (less memory, small error). */
  'models.setWeights': request(z.object({ id: z.string(), weights: weightPrecision }), modelInfo),
  /** Changes the name the studio shows (the files are not touched). */
  'models.rename': request(z.object({ id: z.string(), name: z.string().trim().min(1).max(200) }), modelInfo),
  /** Files, model card, licence text and (LoRAs) trigger words, read from the model's files. */
  'models.details': request(z.object({ id: z.string() }), modelDetails),
  /**
   * Removes a model from the studio. Files the studio holds (imported copies, trained results: inside the data
   * folder) move to trash/models/; a file elsewhere is left where it is. Models shipped with the app are refused.
   */
  'models.delete': request(z.object({ id: z.string() }), z.object({ id: z.string(), trashedTo: z.string().nullable() })),
};

export const modelsEvents = {
  'models.changed': z.object({ ids: z.array(z.string()) }),
};

export type ModelInfo = z.output<typeof modelInfo>;
export type ModelKind = z.output<typeof modelKind>;
export type ModelValidation = z.output<typeof modelValidation>;
export type ModelDetails = z.output<typeof modelDetails>;
export type ModelTraits = z.output<typeof modelTraits>;
export type SamplingDefaults = z.output<typeof samplingDefaults>;
