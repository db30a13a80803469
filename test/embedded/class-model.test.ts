// The shipped class-conditional model (resources/models/emoji-ldm-32-class, trained by
// `npm run train:default -- --stage class-ldm`): it opens as one of the paper's class-conditional
// releases with the emoji subcategories as its classes and a "no class" entry, the studio offers those
// names, it is deterministic per seed, the class steers what it draws (the shipped emoji classifier names
// the class asked for more often than for "no class" pictures of the same seeds), and
// `ldm generate --model emoji-ldm-32-class --class NAME` writes the picture.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEmojiClassifier } from '../../electron/engine/eval/classifier.ts';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { openRelease, type ReleaseModel } from '../../electron/engine/pipelines/release.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';
import { modelTraits } from '../../electron/services/model-traits.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { emojiClasses } from '../../scripts/embedded/class-data.ts';
import { listEmojiSamples } from '../../scripts/embedded/emoji-dataset.ts';
import { cli } from '../cli/helpers.ts';
import { waitForJob } from '../services/helpers.ts';

const FILE = path.resolve('resources/models/emoji-ldm-32-class/emoji-ldm-32-class.safetensors');
const CLASSIFIER = path.resolve('resources/models/emoji-classifier/classifier.json');
/** Classes with a distinctive look that the classifier knows well (see the card for all 98), and seeds: each drawn with and without its class. */
const CLASSES = ['country-flag', 'keycap', 'time', 'family'];
const SEEDS = [11, 12];
const STEPS = 8;

describe.skipIf(!existsSync(FILE))('emoji-ldm-32-class', () => {
  let model: ReleaseModel;
  const names = emojiClasses(listEmojiSamples()).names;
  const tmp = mkdtempSync(path.join(tmpdir(), 'ldm-class-'));

  beforeAll(async () => {
    model = await openRelease(FILE, 'emoji-ldm-32-class', '');
  });
  afterAll(async () => {
    await model?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const draw = async (cls: string, seed: number, guidance = 3) => {
    const imgs = await txt2img(model, { prompt: cls, negativePrompt: '', seed, batchCount: 1, steps: STEPS, sampler: 'ddim', guidance, previewEvery: 0 });
    return imgs[0]!.image;
  };

  it('opens as a class-conditional release whose classes are the emoji subcategories, plus "no class"; the studio offers them', async () => {
    expect(names.length).toBeGreaterThan(90);
    expect(model.release.task).toBe('class-conditional');
    expect(model.release.classNames).toEqual(names);
    expect(model.release.classEmbedder!.nClasses).toBe(names.length + 1);
    expect(model.release.unconditionalClass).toBe(names.length);
    expect(model.defaults).toMatchObject({ width: 32, height: 32, guidance: 3 });
    const traits = await modelTraits({ kind: 'ldm', format: 'safetensors', path: FILE, prediction: null });
    expect(traits).toMatchObject({ family: 'ldm-release', task: 'class2img', classCount: names.length + 1, classSet: 'classes' });
    expect(traits!.classNames).toEqual(names);
    expect(traits!.classNames).toContain('face-smiling');
  });

  it('is deterministic per seed, and a class is taken by name or index', async () => {
    const a = await draw('face-smiling', 5);
    expect(Buffer.from((await draw('face-smiling', 5)).data).equals(Buffer.from(a.data))).toBe(true);
    expect(Buffer.from((await draw(String(names.indexOf('face-smiling')), 5)).data).equals(Buffer.from(a.data))).toBe(true);
    expect(Buffer.from((await draw('face-smiling', 6)).data).equals(Buffer.from(a.data))).toBe(false);
    await expect(draw('no-such-class', 5)).rejects.toThrow(/takes a class index from 0 to 98 or one of its 98 class names/);
  });

  it.skipIf(!existsSync(CLASSIFIER))('draws the class asked for: the emoji classifier names it more often than for "no class" pictures of the same seeds', async () => {
    const clf = await loadEmojiClassifier();
    try {
      let conditional = 0;
      let unconditional = 0;
      let pCond = 0;
      let pNone = 0;
      for (const seed of SEEDS) {
        const none = (await clf.classify([await draw('', seed, 1)]))[0]!;
        for (const cls of CLASSES) {
          const want = clf.classIndex(cls);
          expect(want).toBeGreaterThanOrEqual(0);
          const got = (await clf.classify([await draw(cls, seed)]))[0]!;
          conditional += got.index === want ? 1 : 0;
          unconditional += none.index === want ? 1 : 0;
          pCond += got.probabilities[want]!;
          pNone += none.probabilities[want]!;
        }
      }
      const n = SEEDS.length * CLASSES.length;
      expect(conditional / n).toBeGreaterThanOrEqual(0.5);
      expect(conditional).toBeGreaterThan(unconditional + 2);
      expect(pCond / n).toBeGreaterThan(2 * (pNone / n));
    } finally {
      await clf.close();
    }
  });

  it('ldm generate --model emoji-ldm-32-class --class NAME writes the picture with the class as its prompt; a wrong class is refused by name', async () => {
    const out = path.join(tmp, 'heart.png');
    const r = await cli('generate', '--model', 'emoji-ldm-32-class', '--class', 'heart', '--steps', String(STEPS), '--seed', '7', '--out', out, '-q');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(out);
    const png = readFileSync(out);
    expect(await sharp(png).metadata()).toMatchObject({ width: 32, height: 32 });
    expect(readGenerationParams(png)).toMatchObject({ prompt: 'heart', seed: 7, steps: STEPS, width: 32, height: 32, model: 'emoji-ldm-32-class' });
    const same = await draw('heart', 7);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(Buffer.from(data).equals(Buffer.from(same.data))).toBe(true);

    const bad = await cli('generate', '--model', 'emoji-ldm-32-class', '--class', 'hearts', '--out', out);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--class hearts: emoji-ldm-32-class\.safetensors takes a class index from 0 to 97 or one of alphanum/);
    expect((await cli('generate', 'a red heart', '--model', 'emoji-ldm-32-class', '--class', 'heart')).stderr).toMatch(/give either a prompt or --class, not both/);
    expect((await cli('generate', '--model', 'emoji-ldm-32', '--class', 'heart')).stderr).toMatch(/--class needs a class-conditional model; model\.safetensors is not a model in the paper's layout/);
  });

  it('the studio lists it from the embedded models folder with its class names, and a class job draws the class (as the CLI does)', async () => {
    const embedded = path.join(tmp, 'embedded');
    cpSync(path.dirname(FILE), path.join(embedded, 'emoji-ldm-32-class'), { recursive: true });
    const studio = await createStudio({ dataDir: path.join(tmp, 'data'), transport: 'web', embeddedModelsDir: embedded, allowedDirs: [tmp] });
    try {
      const m = (await studio.handlers['models.list']({})).find((x) => x.id === 'embedded:emoji-ldm-32-class')!;
      expect(m).toMatchObject({ kind: 'ldm', format: 'safetensors', source: 'embedded' });
      expect(m.traits).toMatchObject({ task: 'class2img', classSet: 'classes', defaults: { width: 32, height: 32, guidance: 3 } });
      expect(m.traits!.classNames).toEqual(names);
      const spec = { kind: 'txt2img' as const, modelId: m.id, prompt: 'heart', negativePrompt: '', seed: 7, batchCount: 1, eta: 0, loras: [], steps: STEPS };
      const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 60_000);
      expect(job.error).toBeNull();
      const bytes = Buffer.from((await studio.handlers['gallery.image']({ id: job.generationIds[0]!, variant: 'image' }))!.base64, 'base64');
      expect(readGenerationParams(bytes)).toMatchObject({ prompt: 'heart', seed: 7, cfg: 3, width: 32, height: 32 });
      const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      expect(Buffer.from(data).equals(Buffer.from((await draw('heart', 7)).data))).toBe(true);
    } finally {
      await studio.close();
    }
  }, 60_000);
});
