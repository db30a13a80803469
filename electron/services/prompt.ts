// prompt.tokenCount: the count under the prompt box, with the tokenizer of the chosen model.
import { StudioError } from '../api/contract.ts';
import type { PromptTokenCount } from '../api/prompt.ts';
import { TokenizerError } from '../engine/io/tokenizers/types.ts';
import { PromptSyntaxError } from '../engine/text/extra-networks.ts';
import { PromptTokenCounter } from '../engine/text/token-count.ts';

export class PromptService {
  private readonly counter = new PromptTokenCounter();

  /** modelPath: the registered model's folder or file (models.get(id).path), or none for CLIP. */
  tokenCount(prompt: string, modelPath?: string): PromptTokenCount {
    try {
      const r = this.counter.count(prompt, modelPath);
      return { tokenizer: r.tokenizer, tokenCount: r.tokenCount, maxTokens: r.maxTokens, chunks: r.chunks.map((c) => c.tokens), loras: r.loras };
    } catch (err) {
      if (err instanceof TokenizerError || err instanceof PromptSyntaxError) throw new StudioError(err.message, 'invalid_input');
      throw err;
    }
  }
}
