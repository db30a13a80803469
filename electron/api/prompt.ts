// Prompts: what the text encoder will see of a prompt, for the count under the prompt box ("38/75").
import { z } from 'zod';
import { request } from './contract.ts';

export const promptTokenCount = z.object({
  /** The tokenizer that read the prompt, in words ("CLIP BPE (SD 1.x)"). */
  tokenizer: z.string(),
  /** AUTOMATIC1111's count: 75 for each full chunk, the real tokens of the last one. */
  tokenCount: z.number().int(),
  /** The limit in whole chunks of 75 (the "75" of "38/75"; 150 once the prompt needs two chunks). */
  maxTokens: z.number().int(),
  /** Prompt tokens in each 75-token chunk, in order. */
  chunks: z.array(z.number().int()),
  /** <lora:name:strength> tags found (and not counted). */
  loras: z.array(z.object({ name: z.string(), te: z.number(), unet: z.number() })),
});

export const promptRequests = {
  /** Tokens of a prompt with the tokenizer of a model (default: CLIP, as SD 1.x). */
  'prompt.tokenCount': request(
    z.object({ prompt: z.string().max(10_000), modelId: z.string().min(1).optional() }),
    promptTokenCount,
  ),
};

export const promptEvents = {};

export type PromptTokenCount = z.output<typeof promptTokenCount>;
