// `ldm generate` with A1111's seed settings: --rng, --variation-seed/-strength, --resize-seed-from, --ensd.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/main.ts';
import { parseParameters } from '../../../electron/engine/io/generation-params.ts';
import { readPngText } from '../../../electron/engine/io/png-metadata.ts';
import { saveTinyPackage } from '../pipelines/tiny-model.ts';

let root: string;
let modelDir: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-seeds-'));
  modelDir = path.join(root, 'tiny');
  await saveTinyPackage(modelDir);
});
afterAll(() => fsp.rm(root, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['generate', 'a cat', '--model', modelDir, '--steps', '2', '--sampler', 'euler_a', '--quiet', ...argv], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

const bytes = (f: string) => fsp.readFile(path.join(root, f));
const parameters = async (f: string) => readPngText(new Uint8Array(await bytes(f))).get('parameters')!;

describe('ldm generate seed settings', () => {
  it('--rng nv is the default (GPU) noise, --rng cpu another; --ensd changes an ancestral sampler’s picture', async () => {
    for (const [file, extra] of [['gpu.png', []], ['nv.png', ['--rng', 'nv']], ['cpu.png', ['--rng', 'cpu']], ['ensd.png', ['--ensd', '31337']]] as const) {
      const r = await cli('--seed', '3', '--out', path.join(root, file), ...extra);
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await bytes('nv.png')).equals(await bytes('gpu.png'))).toBe(true);
    expect((await bytes('cpu.png')).equals(await bytes('gpu.png'))).toBe(false);
    expect((await bytes('ensd.png')).equals(await bytes('gpu.png'))).toBe(false);
    // A1111 writes RNG only for CPU, and ENSD for its ancestral samplers ('Euler a' here)
    expect(await parameters('gpu.png')).not.toMatch(/RNG|ENSD|Variation/);
    expect(await parameters('nv.png')).toBe(await parameters('gpu.png'));
    expect(parseParameters(await parameters('cpu.png'))).toMatchObject({ seed: 3, rng: 'CPU' });
    expect(parseParameters(await parameters('ensd.png'))).toMatchObject({ seed: 3, sampler: 'Euler a', ensd: 31337 });
  });

  it('a variation keeps the seed and names each file after its variation seed', async () => {
    const out = path.join(root, 'var.png');
    const r = await cli('--seed', '5', '--n', '2', '--variation-seed', '40', '--variation-strength', '0.5', '--resize-seed-from', '24x40', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((f) => path.basename(f))).toEqual(['var-5-v40.png', 'var-5-v41.png']);
    expect((await bytes('var-5-v40.png')).equals(await bytes('var-5-v41.png'))).toBe(false);
    expect(await parameters('var-5-v41.png')).toMatch(/Seed: 5, .*Variation seed: 41, Variation seed strength: 0\.5, Seed resize from: 24x40/);
    expect(parseParameters(await parameters('var-5-v40.png'))).toMatchObject({
      seed: 5, variationSeed: 40, variationStrength: 0.5, seedResizeFrom: { width: 24, height: 40 },
    });
  });

  it('refuses a bad source or strength with the reason (usage error, exit 2)', async () => {
    const r = await cli('--rng', 'tpu');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--rng must be one of gpu, cpu, nv, got 'tpu'/);
    expect((await cli('--variation-strength', '1.5')).stderr).toMatch(/--variation-strength must be between 0 and 1/);
  });
});
