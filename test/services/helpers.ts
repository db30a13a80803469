// Shared test setup: a temporary data folder, a probe model package, a studio whose workers run the probe worker.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import type { EventName, EventPayload } from '../../electron/api/index.ts';
import type { Job } from '../../electron/api/jobs.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { forkWorkerAdapter } from '../../electron/workers/adapter.ts';

export const PROBE_WORKER = fileURLToPath(new URL('../workers/fixtures/probe-worker.ts', import.meta.url));

export function tempDir(prefix = 'ldm-studio-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A folder of embedded models holding one model package named "probe". */
export async function probeModels(root: string): Promise<string> {
  const dir = join(root, 'embedded');
  const pkg = join(dir, 'probe');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'model.json'), JSON.stringify({ name: 'probe', licence: 'Apache-2.0' }));
  await saveSafetensors(join(pkg, 'unet.safetensors'), { 'model.diffusion_model.out.2.bias': tensor('float32', [4], new Float32Array([0, 1, 2, 3])) });
  return dir;
}

export async function probeStudio(dataDir: string, embeddedModelsDir: string, env: Record<string, string> = {}): Promise<Studio> {
  return createStudio({
    dataDir,
    transport: 'web',
    embeddedModelsDir,
    workerAdapter: forkWorkerAdapter({ entry: PROBE_WORKER, env: { ...process.env, ...env } }),
  });
}

export function nextEvent<K extends EventName>(studio: Studio, event: K, pred: (p: EventPayload<K>) => boolean, timeoutMs = 30_000): Promise<EventPayload<K>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no ${event} event matched within ${timeoutMs} ms`))), timeoutMs);
    const off = studio.on(event, (p) => {
      if (pred(p)) (clearTimeout(timer), off(), resolve(p));
    });
  });
}

export const FINAL = new Set(['completed', 'failed', 'cancelled']);

export async function waitForJob(studio: Studio, id: string, statuses: Set<string> = FINAL, timeoutMs = 30_000): Promise<Job> {
  const wait = nextEvent(studio, 'jobs.updated', (j) => j.id === id && statuses.has(j.status), timeoutMs);
  const now = await studio.handlers['jobs.get']({ id });
  if (statuses.has(now.status)) {
    wait.catch(() => undefined);
    return now;
  }
  return wait;
}

export const txt2img = (prompt: string, extra: Record<string, unknown> = {}) =>
  ({ kind: 'txt2img', modelId: 'embedded:probe', prompt, negativePrompt: '', sampler: 'ddim', steps: 4, guidance: 1, seed: 1, width: 16, height: 16, batchCount: 1, eta: 0, loras: [], ...extra }) as const;
