// A generation leaves the folder of the user's checkpoint exactly as it was (entries, sizes, mtimes,
// contents): nothing is written beside the weights, through `ldm generate --model FILE` and through the
// studio's worker; fp16 weights are widened into the data folder's weights cache instead.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../cli/helpers.ts';
import { createStudio } from '../../../electron/services/studio.ts';
import { folderState } from '../../folder-state.ts';
import { probeModels, waitForJob } from '../../services/helpers.ts';
import { writeSd1File } from './tiny-sd.ts';

let root: string;
const f = (...n: string[]) => path.join(root, ...n);
const widened = async (dir: string) => (await fsp.readdir(dir).catch(() => [])).filter((n) => n.endsWith('.f32'));

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-userfolder-'));
  await writeSd1File(f('Downloads', 'tiny-sd1.safetensors'), { dtype: 'F16' });
  await writeSd1File(f('Downloads', 'tiny-sd1-f32.safetensors'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe("the user's checkpoint folder", () => {
  it('is unchanged after ldm generate --model FILE (fp16 and fp32); fp16 weights widened into --data\'s cache', async () => {
    const before = folderState(f('Downloads'));
    await fsp.mkdir(f('out'));
    for (const name of ['tiny-sd1.safetensors', 'tiny-sd1-f32.safetensors']) {
      const r = await cli('generate', 'a red cat', '--model', f('Downloads', name), '--size', '16x16', '--steps', '1', '--out', f('out', `${name}.png`), '--data', f('cli-data'), '-q');
      expect([r.code, r.stderr]).toEqual([0, '']);
    }
    expect(folderState(f('Downloads'))).toEqual(before);
    expect(await widened(f('cli-data', 'cache', 'weights'))).toHaveLength(3); // text encoder, UNet, VAE of the fp16 file
  }, 120_000);

  it("is unchanged after a generation in the studio's worker, as is the data folder's models folder; the weights cache is in the data folder", async () => {
    const studio = await createStudio({ dataDir: f('data'), transport: 'web', embeddedModelsDir: await probeModels(root), allowedDirs: [root] });
    try {
      const m = await studio.handlers['models.import']({ path: f('Downloads', 'tiny-sd1.safetensors') });
      const before = [folderState(f('Downloads')), folderState(f('data', 'models'))];
      const spec = { kind: 'txt2img' as const, modelId: m.id, prompt: 'a red cat', negativePrompt: '', seed: 4, batchCount: 1, eta: 0, loras: [], steps: 1, width: 16, height: 16 };
      const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
      expect(job.error).toBeNull();
      expect([folderState(f('Downloads')), folderState(f('data', 'models'))]).toEqual(before);
      expect(await widened(f('data', 'cache', 'weights'))).toHaveLength(3); // the fp16 file's networks, widened once
    } finally {
      await studio.close();
    }
  }, 120_000);
});
