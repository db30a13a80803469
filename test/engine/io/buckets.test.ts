// Aspect-ratio buckets against scripts/reference/buckets.py (kohya's make_bucket_resolutions and
// BucketManager.select_bucket in Python: numpy argmin, int(x + 0.5), json.dumps of the bucket table).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BucketPlanner, bucketMetadata, bucketTable, cropOffset, makeBucketResolutions } from '../../../electron/engine/io/buckets.ts';

interface Case {
  resolution: number; minSize: number; maxSize: number; steps: number; noUpscale: boolean;
  predefined: [number, number][];
  picks: { size: [number, number]; bucket: [number, number]; resized: [number, number]; crop: [number, number]; arError: number }[];
  ss_bucket_info: string; ss_bucket_no_upscale: string;
}
const cases = JSON.parse(readFileSync(new URL('../../fixtures/finetune/buckets.json', import.meta.url), 'utf8')) as Case[];

describe('aspect-ratio buckets (kohya)', () => {
  it('make the same bucket table as kohya (sizes in steps, area within resolution², min/max sides, the square)', () => {
    for (const c of cases.filter((x) => !x.noUpscale)) {
      expect(makeBucketResolutions(c.resolution, c.minSize, c.maxSize, c.steps)).toEqual(c.predefined);
    }
    const sd = makeBucketResolutions(512, 256, 1024, 64);
    for (const [w, h] of sd) expect([w % 64, h % 64, w * h <= 512 * 512]).toEqual([0, 0, true]);
  });

  it('put each picture in the same bucket at the same resized size and crop, in both modes, and write the same metadata', () => {
    for (const c of cases) {
      const planner = new BucketPlanner({ resolution: c.resolution, minSize: c.minSize, maxSize: c.maxSize, steps: c.steps, noUpscale: c.noUpscale });
      const choices = c.picks.map((p) => {
        const got = planner.select(p.size[0], p.size[1]);
        expect([got.bucket, got.resized, cropOffset(got.resized, got.bucket)], `${p.size} at ${c.resolution}, noUpscale ${c.noUpscale}`).toEqual([p.bucket, p.resized, p.crop]);
        expect(got.arError).toBeCloseTo(p.arError, 12);
        return got;
      });
      expect(bucketMetadata(bucketTable(choices), c.noUpscale)).toEqual({ ss_bucket_info: c.ss_bucket_info, ss_bucket_no_upscale: c.ss_bucket_no_upscale });
    }
  });

  it('never enlarges a picture with noUpscale, and refuses settings that cannot work', () => {
    const p = new BucketPlanner({ resolution: 512 });
    for (const [w, h] of [[640, 480], [300, 900], [4032, 3024]] as const) {
      const c = p.select(w, h);
      expect(c.resized[0] <= w && c.resized[1] <= h).toBe(true);
      expect(c.bucket[0] <= c.resized[0] && c.bucket[1] <= c.resized[1]).toBe(true);
    }
    expect(() => p.select(40, 300)).toThrow(/too small for buckets of 64 pixels/);
    expect(() => new BucketPlanner({ resolution: 500 })).toThrow(/multiple of the bucket step 64/);
  });
});
