// Shared test setup: a temporary data folder, a probe model package, a studio whose workers run the probe worker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { saveModelPackage, type ModelDescription } from '../../electron/engine/io/model-package.ts';
import { randomWeights } from '../../electron/engine/nn/models.ts';
import type { EventName, EventPayload } from '../../electron/api/index.ts';
import type { Job, Txt2imgSpec } from '../../electron/api/jobs.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { forkWorkerAdapter } from '../../electron/workers/adapter.ts';

export const PROBE_WORKER = fileURLToPath(new URL('../workers/fixtures/probe-worker.ts', import.meta.url));

export function tempDir(prefix = 'ldm-studio-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const TINY: ModelDescription = {
  name: 'probe',
  kind: 'txt2img',
  architecture: {
    autoencoder: { kind: 'kl', ch: 8, chMult: [1, 2, 2, 2], numResBlocks: 1, attnResolutions: [], resolution: 32, inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4, normGroups: 4 },
    unet: { inChannels: 4, outChannels: 4, modelChannels: 16, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [2], numHeadChannels: 8, transformerDepth: 1, contextDim: 16, normGroups: 8 },
    textEncoder: { vocabSize: 8, maxLength: 8, width: 16, layers: 1, heads: 2, mlpWidth: 32, activation: 'gelu', causal: true },
  },
  tokenizer: { type: 'word', vocabulary: ['<pad>', '<start>', '<end>', 'a', 'red', 'fox', 'snow', 'cat'], maxLength: 8 },
  scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' },
  sampling: { sampler: 'ddim', steps: 4, guidance: 1, width: 16, height: 16 },
  latentScaleFactor: 1,
  latentPreview: { weights: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], bias: [0, 0, 0] },
  provenance: { createdBy: 'test/services/helpers.ts', seed: 1 },
  license: 'Apache-2.0',
};

export interface TestStudio {
  readonly tmp: ReturnType<typeof tempDir>;
  readonly studio: Studio;
  readonly dataDir: string;
}

/**
 * A web-transport studio over the probe package, its data in tmp/data, for the tests of the calling
 * describe: a fresh one (and temp folder) for each test, or with `perTest: false` one for them all;
 * `allowTemp`: the temp folder is one of the studio's allowed folders. Closed and removed after.
 */
export function useTestStudio({ perTest = true, allowTemp = true } = {}): TestStudio {
  const t = {} as { tmp: ReturnType<typeof tempDir>; studio: Studio; dataDir: string };
  (perTest ? beforeEach : beforeAll)(async () => {
    t.tmp = tempDir();
    t.dataDir = join(t.tmp.dir, 'data');
    const allowed = allowTemp ? { allowedDirs: [t.tmp.dir] } : {};
    t.studio = await createStudio({ dataDir: t.dataDir, transport: 'web', embeddedModelsDir: await probeModels(t.tmp.dir), ...allowed });
  });
  (perTest ? afterEach : afterAll)(async () => {
    await t.studio.close();
    t.tmp.cleanup();
  });
  return t;
}

/** A real (tiny, random) model package, as the embedded models folder would hold it. */
export async function writeTinyPackage(dir: string): Promise<void> {
  await saveModelPackage(dir, TINY, randomWeights(TINY.architecture, 1));
}

/** A folder of embedded models holding one model package, "probe". */
export async function probeModels(root: string): Promise<string> {
  const dir = join(root, 'embedded');
  await writeTinyPackage(join(dir, 'probe'));
  return dir;
}

export async function probeStudio(dataDir: string, embeddedModelsDir: string, env: Record<string, string> = {}): Promise<Studio> {
  return createStudio({
    dataDir,
    transport: 'web',
    embeddedModelsDir,
    workerAdapter: forkWorkerAdapter({ entry: PROBE_WORKER, env: { ...process.env, ...env } }),
    // Tests keep their inputs beside the data folder, as a user would with --allow.
    allowedDirs: [dirname(dataDir)],
  });
}

export function nextEvent<K extends EventName>(studio: Studio, event: K, pred: (p: EventPayload<K>) => boolean, timeoutMs = 55_000): Promise<EventPayload<K>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no ${event} event matched within ${timeoutMs} ms`))), timeoutMs);
    const off = studio.on(event, (p) => {
      if (pred(p)) (clearTimeout(timer), off(), resolve(p));
    });
  });
}

export const FINAL = new Set(['completed', 'failed', 'cancelled']);

export async function waitForJob(studio: Studio, id: string, statuses: Set<string> = FINAL, timeoutMs = 55_000): Promise<Job> {
  const wait = nextEvent(studio, 'jobs.updated', (j) => j.id === id && statuses.has(j.status), timeoutMs);
  const now = await studio.handlers['jobs.get']({ id });
  if (statuses.has(now.status)) {
    wait.catch(() => undefined);
    return now;
  }
  return wait;
}

export const txt2img = (prompt: string, extra: Partial<Txt2imgSpec> = {}): Txt2imgSpec => ({
  kind: 'txt2img',
  modelId: 'embedded:probe',
  prompt,
  negativePrompt: '',
  sampler: 'ddim',
  steps: 4,
  guidance: 1,
  seed: 1,
  width: 16,
  height: 16,
  batchCount: 1,
  eta: 0,
  loras: [],
  ...extra,
});
