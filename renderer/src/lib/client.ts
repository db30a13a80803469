// The one window.studio client. In Electron the preload script exposes a raw IPC bridge (studioIpc);
// in a browser we talk WebSocket to web mode. Either way the rest of the renderer sees a StudioClient.
import type { EventName, EventPayload, RequestInput, RequestName, RequestOutput, StudioClient } from '../../../electron/api/index.ts';
import { StudioRequestError } from './errors.ts';
import { createWebClient, sessionToken } from './web-client.ts';

/** What shell/preload.ts exposes: envelopes, because Error subclasses do not survive the context bridge. */
export interface IpcBridge {
  request(name: string, input: unknown): Promise<{ ok: true; output: unknown } | { ok: false; error: { code: string; message: string } }>;
  on(name: string, listener: (payload: unknown) => void): () => void;
}

declare global {
  interface Window {
    studioIpc?: IpcBridge;
  }
}

export function fromIpcBridge(bridge: IpcBridge): StudioClient {
  return {
    async invoke<K extends RequestName>(name: K, input: RequestInput<K>): Promise<RequestOutput<K>> {
      const reply = await bridge.request(name, input);
      if (!reply.ok) throw new StudioRequestError(reply.error.message, reply.error.code);
      return reply.output as RequestOutput<K>;
    },
    on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void) {
      return bridge.on(name, listener as (payload: unknown) => void);
    },
  };
}

export function connectStudio(onConnection?: (connected: boolean, refused?: string) => void): StudioClient {
  if (window.studio) return window.studio;
  let client: StudioClient;
  if (window.studioIpc) {
    client = fromIpcBridge(window.studioIpc);
  } else {
    const token = sessionToken(window.location, window.sessionStorage);
    if (!token) throw new StudioRequestError('This page needs the session token: open the exact URL that `npm run web` printed.', 'no_token');
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    client = createWebClient(`${proto}//${window.location.host}/ws?token=${encodeURIComponent(token)}`, onConnection);
  }
  window.studio = client;
  return client;
}
