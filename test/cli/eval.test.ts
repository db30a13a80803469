// `ldm eval`: the embedded model sampled through the studio's txt2img pipeline and measured against the
// held-out emoji with the shipped classifier (tiny n and steps: this checks the plumbing, not the figures);
// clear errors for a missing classifier/data set and for models it cannot sample.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-eval-'));
beforeAll(async () => {
  await writeTinyRelease('sr-kl', null, join(dir, 'sr.safetensors'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ldm eval', () => {
  it('samples emoji-ldm-32 for held-out captions and prints FID, KID, precision/recall and prompt fidelity', async () => {
    const r = await cli('eval', '--model', 'emoji-ldm-32', '--n', '4', '--steps', '2', '--seed', '5', '--threads', '1', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/eval: 4 samples of emoji-ldm-32 \(text: 225 prompts/);
    expect(r.stderr).toMatch(/eval: 4\/4 sampled/);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ model: 'emoji-ldm-32', conditioning: 'text', n: 4, reference: 225, featureDim: 128, steps: 2, seed: 5, sampler: 'ddim' });
    expect(j.fid).toBeGreaterThan(0);
    expect(Number.isFinite(j.kid)).toBe(true);
    for (const v of [j.precision, j.recall, j.promptFidelity.accuracy, j.referenceAccuracy]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(j.promptFidelity.total).toBe(4);
    expect(j.referenceAccuracy).toBeGreaterThan(0.35);
  }, 60_000);

  it('says what is wrong: too few samples, no classifier, a model it cannot sample', async () => {
    expect((await cli('eval', '--n', '2')).stderr).toMatch(/--n must be at least 4/);
    const empty = join(dir, 'no-classifier');
    expect((await cli('eval', '--classifier', empty, '-q')).stderr).toMatch(/held-out emoji set not found: .*heldout\.json is missing/);
    const sr = await cli('eval', '--model', join(dir, 'sr.safetensors'), '--n', '4', '-q');
    expect(sr.code).not.toBe(0);
    expect(sr.stderr).toMatch(/super-resolution .*ldm eval measures models that make pictures from nothing, a prompt or a class/);
  });
});
