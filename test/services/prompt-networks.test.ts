// <lora:name:w> tags and embedding names in prompts → the studio's models a job applies.
import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../electron/api/models.ts';
import { promptNetworks } from '../../electron/services/prompt-networks.ts';

const model = (id: string, name: string, kind: ModelInfo['kind']): ModelInfo =>
  ({ id, name, kind, format: 'safetensors', source: 'imported', hash: `h-${id}`, sizeBytes: 1, licence: null, description: null, path: `/m/${id}.safetensors`, baseModelId: null, createdAt: 0 }) as ModelInfo;

const models = [model('1', 'PaperCut', 'lora'), model('2', 'mystyle', 'embedding'), model('3', 'sd15', 'ldm'), model('4', 'style', 'embedding')];

describe('prompt networks', () => {
  it('finds <lora:…> tags by name (A1111 strengths: te, unet defaulting to te) and embeddings named as words', () => {
    const got = promptNetworks(['a cat in <lora:PaperCut:0.8> mystyle, colourful', 'ugly <lora:papercut:1:0.5>'], models);
    expect(got.map((n) => [n.model.id, n.strength, n.textStrength])).toEqual([
      ['1', 0.8, undefined],
      ['1', 0.5, 1],
      ['2', 1, undefined],
    ]);
  });

  it('matches embedding names as whole words only, and not inside tags', () => {
    expect(promptNetworks(['a stylesheet, mystyles'], models)).toEqual([]);
    expect(promptNetworks(['(style:1.2) cat'], models).map((n) => n.model.id)).toEqual(['4']);
    expect(promptNetworks(['<lora:PaperCut> cat'], models).map((n) => n.model.id)).toEqual(['1']);
  });

  it('refuses a tag that names no LoRA, saying what to do', () => {
    expect(() => promptNetworks(['a <lora:nothere:0.5> cat'], models)).toThrow(/no LoRA of that name is in the models; import nothere\.safetensors/);
    expect(() => promptNetworks(['a <lora:sd15> cat'], models)).toThrow(/<lora:sd15>/);
    expect(() => promptNetworks(['a <lora:PaperCut:strong> cat'], models)).toThrow(/not a number/);
  });
});
