// prompt.tokenCount: the "38/75" count under the prompt box, through the studio's handlers.
import { describe, expect, it } from 'vitest';
import { requests } from '../../electron/api/index.ts';
import { useTestStudio } from './helpers.ts';

describe('prompt.tokenCount', () => {
  const t = useTestStudio({ perTest: false, allowTemp: false });

  it('counts with CLIP when no model is named, per chunk of 75', async () => {
    const count = t.studio.handlers['prompt.tokenCount'];
    expect(await count({ prompt: 'a photo of a cat <lora:ink:0.7>' })).toEqual({
      tokenizer: 'CLIP BPE (SD 1.x)',
      tokenCount: 5,
      maxTokens: 75,
      chunks: [5],
      loras: [{ name: 'ink', te: 0.7, unet: 0.7 }],
    });
    expect(await count({ prompt: 'cat '.repeat(80) })).toMatchObject({ tokenCount: 80, maxTokens: 150, chunks: [75, 5] });
  });

  it("uses the model's own tokenizer", async () => {
    const r = await t.studio.handlers['prompt.tokenCount']({ prompt: 'a red fox in the snow', modelId: 'embedded:probe' });
    expect(r).toMatchObject({ tokenizer: 'word (model package)', tokenCount: 4, maxTokens: 6 });
  });

  it('names an unknown model and refuses an over-long prompt at the contract', async () => {
    await expect(t.studio.handlers['prompt.tokenCount']({ prompt: 'x', modelId: 'nope' })).rejects.toThrow(/No model with id "nope"/);
    expect(requests['prompt.tokenCount'].input.safeParse({ prompt: 'x'.repeat(10_001) }).success).toBe(false);
  });
});
