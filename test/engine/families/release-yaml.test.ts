// What a release's yaml may add to its shapes beyond the CompVis keys: a class-conditional model's own
// class names (class_names, with a last "no class" row when it names one class fewer than the table has),
// the GroupNorm group count (norm_num_groups; CompVis fixes 32) and the training size (image_size × f).
import { describe, expect, it } from 'vitest';
import { readReleaseYaml, recogniseLdmRelease } from '../../../electron/engine/families/ldm-release.ts';
import { releaseDefaults } from '../../../electron/engine/families/ldm-run.ts';
import { tinyStateDict } from './ldm-fixtures.ts';

const cinShapes = () => new Map([...tinyStateDict('cin', 1)].map(([k, t]) => [k, t.shape]));

describe('release yaml', () => {
  it('reads class_names, norm_num_groups and image_size; refuses a class list it cannot read', () => {
    const y = readReleaseYaml('model:\n  params:\n    image_size: 8\n    norm_num_groups: 16\n    class_names: ["face-smiling", "arts & crafts"]\n');
    expect(y).toMatchObject({ imageSize: 8, normGroups: 16, classNames: ['face-smiling', 'arts & crafts'] });
    expect(() => readReleaseYaml('class_names: [face-smiling, heart]')).toThrow(/one-line list of quoted names/);
    expect(() => readReleaseYaml('class_names: ["heart", "heart"]')).toThrow(/distinct, non-empty names/);
    expect(readReleaseYaml('scale_factor: 0.18215')).toEqual({ scaleFactor: 0.18215 });
  });

  it('a class table with one row more than the names has a "no class" entry; the groups and the size reach the configs', () => {
    const rows = cinShapes().get('cond_stage_model.embedding.weight')![0]!;
    const names = Array.from({ length: rows - 1 }, (_, i) => `class ${i}`);
    const r = recogniseLdmRelease(cinShapes(), { classNames: names, normGroups: 16, imageSize: 8 });
    expect(r).toMatchObject({ task: 'class-conditional', release: 'class-conditional LDM', unconditionalClass: rows - 1, classNames: names, imageSide: 32 });
    expect(r.unet!.normGroups).toBe(16);
    expect(r.autoencoder.normGroups).toBe(16);
    expect(releaseDefaults(r)).toMatchObject({ width: 32, height: 32, guidance: 3 });
    // as many names as rows: no "no class" entry, so no guidance by default
    expect(recogniseLdmRelease(cinShapes(), { classNames: [...names, 'last'] })).toMatchObject({ unconditionalClass: null });
    expect(() => recogniseLdmRelease(cinShapes(), { classNames: names.slice(0, 3) })).toThrow(/the yaml names 3 classes but the class embedding has \d+ rows/);
    // without names it stays cin256-v2 with ImageNet's
    expect(recogniseLdmRelease(cinShapes())).toMatchObject({ release: 'cin256-v2', unconditionalClass: 1000 });
  });
});
