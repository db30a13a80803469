// Opens the studio backend that a transport binds. Until electron/services/studio.ts (createStudio)
// lands, this is a minimal backend with system.info only; swapping it for createStudio changes this
// file alone, never shell/ipc.ts or web/server.ts.
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { StudioBackend } from '../api/dispatch.ts';
import type { EventName, EventPayload } from '../api/index.ts';
import pkg from '../../package.json' with { type: 'json' };

export interface StudioOptions {
  dataDir: string;
  transport: 'ipc' | 'web';
}

export async function openStudio(options: StudioOptions): Promise<StudioBackend> {
  const providers = ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
  const listeners = new Map<string, Set<(payload: never) => void>>();
  return {
    handlers: {
      'system.info': async () => ({
        appVersion: pkg.version,
        onnxruntimeVersion: ort.env.versions.common,
        executionProviders: providers,
        activeProvider: 'cpu',
        dataDir: options.dataDir,
        platform: `${os.platform()} ${os.arch()}`,
        transport: options.transport,
      }),
    },
    on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
    close() {
      listeners.clear();
    },
  };
}
