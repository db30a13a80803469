// `ldm eval --colour`: the colour measure's command line (the measure itself: test/embedded/colour-measure.test.ts).
// One step per picture keeps the full prompt set quick; the figures are the card's, not this test's.
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

describe('ldm eval --colour', () => {
  it('prints one row per colour word, per prompt kind and overall, with and without the word', async () => {
    const r = await cli('eval', '--model', 'emoji-ldm-32', '--colour', '--steps', '1', '--threads', '1', '-q');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('emoji-ldm-32: 54 colour prompts never seen in training × seeds 1, 2, 3, 4 (ddim, 1 steps, cfg 3)');
    expect(lines[1]).toMatch(/^group +pictures +accuracy +hue error +no word: accuracy +no word: hue error$/);
    expect(lines.slice(2).map((l) => l.split(/ {2,}/)[0])).toEqual(['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'held-out concept', 'unseen pair', 'all']);
    expect(lines.at(-1)).toMatch(/^all +216 +\d+\.\d% +\d+\.\d° +\d+\.\d% +\d+\.\d°$/);
  }, 120_000);

  it('refuses a model that does not draw from text, and a seed out of range', async () => {
    const inpaint = await cli('eval', '--model', 'emoji-ldm-32-inpaint', '--colour', '--threads', '1');
    expect(inpaint.code).not.toBe(0);
    expect(inpaint.stderr).toMatch(/--colour measures text-to-image models; emoji-ldm-32-inpaint is an inpaint model/);
    const seed = await cli('eval', '--model', 'emoji-ldm-32', '--colour', '--seed', '4294967295');
    expect(seed.code).not.toBe(0);
    expect(seed.stderr).toMatch(/--seed must be 0…/);
  });
});
