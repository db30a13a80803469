// prompt.* requests: a prompt's token count under a model's tokenizer.
import type { DomainHandlers, StudioContext } from './context.ts';

export function promptHandlers({ prompts, models }: StudioContext): DomainHandlers<'prompt'> {
  return {
    'prompt.tokenCount': async ({ prompt, modelId }) => prompts.tokenCount(prompt, modelId === undefined ? undefined : models.get(modelId).path),
  };
}
