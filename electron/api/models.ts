// Models registry: the embedded model(s), imported models and models trained here.
import { z } from 'zod';
import { request } from './contract.ts';

export const modelKind = z.enum(['ldm', 'lora', 'vae', 'embedding']);

export const modelInfo = z.object({
  id: z.string(),
  name: z.string(),
  kind: modelKind,
  format: z.enum(['package', 'safetensors', 'onnx']),
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
});

export const modelValidation = z.object({
  ok: z.boolean(),
  kind: modelKind.nullable(),
  format: z.enum(['package', 'safetensors', 'onnx']).nullable(),
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
});

export const modelsRequests = {
  'models.list': request(z.object({ kind: modelKind.optional() }), z.array(modelInfo)),
  'models.get': request(z.object({ id: z.string() }), modelInfo),
  /** Checks a file or folder without importing it. */
  'models.validate': request(z.object({ path: z.string().min(1) }), modelValidation),
  /** Validates, copies into the data folder's models/ and registers; fails with the validation errors. */
  'models.import': request(z.object({ path: z.string().min(1), name: z.string().max(200).optional() }), modelInfo),
};

export const modelsEvents = {
  'models.changed': z.object({ ids: z.array(z.string()) }),
};

export type ModelInfo = z.output<typeof modelInfo>;
export type ModelKind = z.output<typeof modelKind>;
export type ModelValidation = z.output<typeof modelValidation>;
