// system.info: versions and the execution providers this installation offers.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { RequestOutput } from '../api/index.ts';
import { SAMPLERS, SCHEDULE_TYPES } from '../engine/diffusion/samplers.ts';
import { METHOD_CATALOG } from '../engine/finetune/methods/catalog.ts';
import { autoProviderCandidates, availableProviders } from '../engine/onnx/runtime.ts';

const require = createRequire(import.meta.url);

function packageVersion(pkgJson: string): string {
  return (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
}

export const APP_VERSION = packageVersion(fileURLToPath(new URL('../../package.json', import.meta.url)));

/**
 * `ranOn`: the provider a job actually ran on; before any job, the one 'auto' would use (not merely the
 * first one listed: webgpu is listed but 'auto' skips it).
 */
export function systemInfo(dataDir: string, transport: 'ipc' | 'web', ranOn: string | null = null): RequestOutput<'system.info'> {
  const providers = availableProviders();
  return {
    appVersion: APP_VERSION,
    onnxruntimeVersion: packageVersion(require.resolve('onnxruntime-node/package.json')),
    executionProviders: providers,
    activeProvider: ranOn ?? autoProviderCandidates()[0] ?? 'cpu',
    dataDir,
    platform: `${process.platform}-${process.arch}`,
    transport,
    samplers: SAMPLERS.map((s) => ({ name: s.name, label: s.label, schedules: [...s.schedules] })),
    scheduleTypes: SCHEDULE_TYPES.map((t) => ({ ...t })),
    finetuneMethods: METHOD_CATALOG.map((m) => ({ ...m, fields: [...m.fields] })),
  };
}
