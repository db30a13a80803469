// window.studio in web mode: the contract over one WebSocket to electron/web/server.ts, authenticated by
// the session token from the page URL (kept in sessionStorage so a reload still works).
import type { EventName, EventPayload, RequestInput, RequestName, RequestOutput, StudioClient } from '../../../electron/api/index.ts';
import type { TokenRefusedCode } from '../../../electron/web/close-codes.ts';
import { StudioRequestError } from './errors.ts';
import { httpUploader, liftLargeImages } from './uploads.ts';

/** Web mode's close code for a refused session token; the type keeps it equal to the server's. */
const TOKEN_REFUSED: TokenRefusedCode = 4401;

type ServerMessage =
  | { t: 'res'; id: number; ok: true; output: unknown }
  | { t: 'res'; id: number; ok: false; error: { code: string; message: string } }
  | { t: 'evt'; name: string; payload: unknown };

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export function sessionToken(location: Location, storage: Storage): string | null {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) storage.setItem('studio.token', fromUrl);
  return fromUrl ?? storage.getItem('studio.token');
}

/**
 * `onConnection(true|false)` reports each change of the socket's state (for the status bar). When the server
 * refuses this page's session token (it was restarted, with a new token) the client stops reconnecting and
 * reports `onConnection(false, sentence)`: what happened and what to do, with the server's reason.
 */
export function createWebClient(
  wsUrl: string,
  onConnection: (connected: boolean, refused?: string) => void = () => {},
): StudioClient & { readonly connected: boolean } {
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const queue: string[] = [];
  let nextId = 1;
  let socket: WebSocket | null = null;
  let connected = false;
  let retryMs = 250;
  let reported: boolean | null = null;
  let everConnected = false;
  let refused: string | null = null;
  const upload = httpUploader(new URL(wsUrl).searchParams.get('token'));
  const report = (up: boolean) => {
    if (reported !== up) onConnection(up);
    reported = up;
  };

  const connect = () => {
    const ws = new WebSocket(wsUrl);
    socket = ws;
    ws.onopen = () => {
      connected = true;
      everConnected = true;
      report(true);
      retryMs = 250;
      for (const msg of queue.splice(0)) ws.send(msg);
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as ServerMessage;
      if (msg.t === 'evt') {
        for (const l of listeners.get(msg.name) ?? []) l(msg.payload);
        return;
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.output);
      else p.reject(new StudioRequestError(msg.error.message, msg.error.code));
    };
    ws.onclose = (ev) => {
      connected = false;
      if (ev.code === TOKEN_REFUSED) {
        refused = everConnected
          ? `The studio was restarted: open the new address that \`npm run web\` printed (${ev.reason || 'this page\'s session token was refused'}).`
          : `This address is not the running studio's: open the exact URL that \`npm run web\` printed (${ev.reason || 'the session token was refused'}).`;
        onConnection(false, refused);
        reported = false;
      } else report(false);
      for (const p of pending.values()) {
        p.reject(new StudioRequestError(refused ?? 'Lost the connection to the studio. Is `npm run web` still running?', refused ? 'token_refused' : 'disconnected'));
      }
      pending.clear();
      queue.length = 0;
      if (refused) return;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };
  connect();

  return {
    get connected() {
      return connected;
    },
    invoke<K extends RequestName>(name: K, input: RequestInput<K>): Promise<RequestOutput<K>> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        if (refused) return reject(new StudioRequestError(refused, 'token_refused'));
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        // Large pictures go ahead as uploads; the message then names them (see uploads.ts).
        liftLargeImages(input, upload).then(
          (lifted) => {
            const msg = JSON.stringify({ t: 'req', id, name, input: lifted });
            if (connected && socket?.readyState === WebSocket.OPEN) socket.send(msg);
            else queue.push(msg);
          },
          (err: Error) => {
            pending.delete(id);
            reject(new StudioRequestError(err.message, 'upload_failed'));
          },
        );
      });
    },
    on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): () => void {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name, set);
      const l = listener as (payload: unknown) => void;
      set.add(l);
      return () => set.delete(l);
    },
  };
}
