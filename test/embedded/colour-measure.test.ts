// The colour measure on the shipped embedded model, end to end through the studio's txt2img pipeline
// (a tiny prompt set and few steps: this checks the structure and that it is deterministic per seed,
// not the figures, which the model card gives for the full set).
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { colourPrompts, COLOUR_WORDS, measureColour, REFERENCE_HUES } from '../../electron/engine/eval/colour.ts';
import { loadModel, type LoadedModel } from '../../electron/engine/pipelines/loaded-model.ts';

const MODEL_DIR = path.resolve('resources/models/emoji-ldm-32');
let model: LoadedModel;

beforeAll(async () => {
  model = await loadModel(MODEL_DIR, { threads: 1 });
});
afterAll(async () => {
  await model?.release();
});

describe('colour measure on emoji-ldm-32', () => {
  const prompts = colourPrompts().filter((p) => p.prompt === 'blue apple, food fruit' || p.prompt === 'large yellow circle, geometric');

  it('reads every picture with and without its colour word, and repeats itself for the same seeds', async () => {
    expect(prompts).toHaveLength(2);
    const o = { prompts, seed: 7, seeds: 2, steps: 4 };
    const a = await measureColour(model, o);
    expect(a.prompts).toBe(2);
    expect(a.seeds).toEqual([7, 8]);
    expect(a.details.map((d) => [d.prompt, d.kind])).toEqual([
      ['blue apple, food fruit', 'unseen pair'],
      ['large yellow circle, geometric', 'held-out concept'],
    ]);
    for (const d of a.details) {
      expect(d.withWord).toHaveLength(2);
      expect(d.withoutWord).toHaveLength(2);
      for (const r of [...d.withWord, ...d.withoutWord]) {
        if (r.hue === null) continue;
        expect(r.hue).toBeGreaterThanOrEqual(0);
        expect(r.hue).toBeLessThan(360);
        expect(COLOUR_WORDS).toContain(r.nearest);
        expect(r.correct).toBe(r.nearest === d.colour);
        expect(r.error).toBeLessThanOrEqual(180);
      }
    }
    expect(a.rows.map((r) => r.group)).toEqual(['yellow', 'blue', 'held-out concept', 'unseen pair', 'all']);
    expect(a.rows.at(-1)!.withWord.pictures).toBe(4);
    const b = await measureColour(model, o);
    expect(b.details).toEqual(a.details);
    const other = await measureColour(model, { ...o, prompts: prompts.slice(0, 1), seed: 9, seeds: 1 });
    expect(other.details[0]!.withWord[0]!.hue).not.toBe(a.details[0]!.withWord[0]!.hue);
    expect(Object.keys(REFERENCE_HUES)).toEqual([...COLOUR_WORDS]);
  });
});
