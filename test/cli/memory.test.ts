// `ldm generate` says its memory estimate before it starts (services/admission.ts, the studio's figure);
// `ldm train --recompute` chooses activation recomputation.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveTinyPackage } from '../engine/pipelines/tiny-model.ts';
import { cli } from './helpers.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-cli-memory-'));
  await saveTinyPackage(path.join(root, 'tiny'));
});
afterAll(() => fsp.rm(root, { recursive: true, force: true }));

describe('ldm generate memory estimate', () => {
  it('prints what the job needs and what is free before sampling', async () => {
    const r = await cli('generate', 'a cat', '--seed', '1', '--steps', '1', '--model', path.join(root, 'tiny'), '--out', path.join(root, 'x.png'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\d+x\d+ txt2img: needs about \d+\.\d GiB of memory \(\d+\.\d GiB free of \d+\.\d GiB\)$/m);
  });

  it('ldm train --recompute takes on, off or auto', async () => {
    const r = await cli('train', '--data', root, '--out', path.join(root, 'x.safetensors'), '--base', path.join(root, 'tiny'), '--recompute', 'maybe');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--recompute must be on, off or auto, got 'maybe'");
  });
});
