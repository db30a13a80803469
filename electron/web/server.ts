// Web mode: the built renderer over HTTP and the StudioApi over one WebSocket, on 127.0.0.1 by default.
// Every socket must present the session token and, from a browser, come from the page's own origin; the
// transport is generic over the contract (dispatch.ts). A client that misbehaves (a malformed or oversized
// frame, a broken upload) loses its own connection and nothing else: every socket and stream has an
// 'error' listener. Large pictures travel as HTTP uploads (POST /upload), streamed to a file.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { dispatch, forwardEvents, type StudioBackend } from '../api/dispatch.ts';
import { CONTENT_SECURITY_POLICY } from '../api/csp.ts';
import { TOKEN_REFUSED } from './close-codes.ts';

export interface WebServerOptions {
  backend: StudioBackend;
  /** The built renderer (renderer/dist). */
  staticDir: string;
  host?: string;
  port?: number;
  token?: string;
  /** Where POST /upload stores pictures (the data folder's uploads/); without it uploads are refused. */
  uploadDir?: string;
  /** Largest upload accepted, in bytes (default 256 MiB). */
  maxUploadBytes?: number;
  /** Largest WebSocket message accepted, in bytes (default 64 MiB); a bigger one closes that socket only. */
  maxMessageBytes?: number;
  /** Where problems with single clients are reported (default console.error). */
  log?: (line: string) => void;
}

export interface WebServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

/** Messages on the socket. Client → server: `req`; server → client: `res` and `evt`. */
export type ClientMessage = { t: 'req'; id: number; name: string; input: unknown };
export type ServerMessage =
  | { t: 'res'; id: number; ok: true; output: unknown }
  | { t: 'res'; id: number; ok: false; error: { code: string; message: string } }
  | { t: 'evt'; name: string; payload: unknown };

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(24).toString('base64url');
  const staticDir = path.resolve(options.staticDir);
  try {
    await stat(path.join(staticDir, 'index.html'));
  } catch {
    throw new Error(`The renderer is not built: ${staticDir}/index.html is missing. Run "npm run build:renderer" first.`);
  }

  const log = options.log ?? ((line: string) => console.error(line));
  let port = 0;
  const originOk = (req: http.IncomingMessage) => sameOrigin(req, host, port);
  const server = http.createServer((req, res) => {
    res.on('error', () => req.destroy());
    req.on('error', () => res.destroy());
    const handle =
      req.method === 'POST' && new URL(req.url ?? '/', 'http://localhost').pathname === '/upload'
        ? receiveUpload(req, res, { token, originOk, dir: options.uploadDir, maxBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD })
        : serveStatic(staticDir, req, res);
    handle.catch(() => {
      if (!res.headersSent) res.writeHead(500).end('Internal error');
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes ?? 64 * 1024 * 1024 });
  wss.on('error', (err) => log(`web socket server: ${err.message}`));
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws' || !tokenMatches(url.searchParams.get('token'), token)) {
      // A page of ours holding another run's token (the studio restarted) learns why on a socket closed at once.
      if (url.pathname === '/ws' && req.headers.origin !== undefined && originOk(req)) {
        wss.handleUpgrade(req, socket, head, (ws) => ws.close(TOKEN_REFUSED, 'the session token is not this run\'s'));
        return;
      }
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!originOk(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => bindSocket(ws, options.backend, log));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(new Error(`Port ${options.port} on ${host} is already in use: pass --port N, or --port 0 for any free port.`));
      } else reject(err);
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    port,
    token,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a request comes from the page this server serves. Browsers always send Origin on WebSockets and
 * POSTs; other clients (the CLI, scripts) may leave it out and rely on the token alone. The Host must name
 * this server (a name that resolves here by DNS rebinding is refused) unless it listens on every address.
 */
export function sameOrigin(req: http.IncomingMessage, listenHost: string, port: number): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const hostHeader = req.headers.host ?? '';
  if (origin !== `http://${hostHeader}`) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
  const own = new Set(['127.0.0.1', 'localhost', '::1', listenHost.replace(/^\[|\]$/g, '')]);
  return new URL(`http://${hostHeader}`).port === String(port) && (wildcard || own.has(hostname));
}

function bindSocket(ws: WebSocket, backend: StudioBackend, log: (line: string) => void): void {
  const send = (msg: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg), (err) => err && ws.terminate());
  };
  const unsubscribe = forwardEvents(backend, (name, payload) => send({ t: 'evt', name, payload }));
  ws.on('close', unsubscribe);
  // ws reports a malformed frame (bad UTF-8, reserved bits, too large) here and closes the socket itself:
  // only this client is dropped.
  ws.on('error', (err) => {
    log(`web client dropped: ${err.message}`);
    ws.terminate();
  });
  ws.on('message', async (data) => {
    let msg: ClientMessage;
    try {
      msg = JSON.parse(data.toString()) as ClientMessage;
    } catch {
      return ws.close(1003, 'messages must be JSON');
    }
    if (msg?.t !== 'req' || typeof msg.id !== 'number') return ws.close(1003, 'unknown message');
    send({ t: 'res', id: msg.id, ...(await dispatch(backend, msg.name, msg.input)) });
  });
}

async function serveStatic(root: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    res.writeHead(400).end('Bad path');
    return;
  }
  let file = path.join(root, path.normalize(rel === '/' ? '/index.html' : rel));
  if (!file.startsWith(root + path.sep)) {
    res.writeHead(403).end('Forbidden');
    return;
  }
  let info = await stat(file).catch(() => null);
  if (!info?.isFile()) {
    // An unknown path without an extension is a client-side route: serve the app.
    if (path.extname(rel)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found');
      return;
    }
    file = path.join(root, 'index.html');
    info = await stat(file);
  }
  const immutable = rel.startsWith('/assets/');
  res.writeHead(200, {
    'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

const DEFAULT_MAX_UPLOAD = 256 * 1024 * 1024;

/**
 * POST /upload?token=…: the body (a picture's bytes, any size up to the cap) is streamed to a temp file in
 * the upload folder and renamed into place; the answer names it for an image source { uploadId }.
 */
async function receiveUpload(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  o: { token: string; originOk: (req: http.IncomingMessage) => boolean; dir: string | undefined; maxBytes: number },
): Promise<void> {
  const fail = (status: number, message: string) => {
    req.resume();
    res.writeHead(status, { 'Content-Type': 'application/json', Connection: 'close' }).end(JSON.stringify({ error: message }));
  };
  const url = new URL(req.url ?? '/', 'http://localhost');
  const given = url.searchParams.get('token') ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
  if (!tokenMatches(given, o.token)) return fail(401, 'the session token is missing or wrong');
  if (!o.originOk(req)) return fail(403, 'uploads are accepted only from the studio page');
  if (!o.dir) return fail(404, 'this server takes no uploads');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > o.maxBytes) return fail(413, `the upload is ${declared} bytes, over the ${o.maxBytes}-byte limit`);
  const id = uploadId();
  const tmp = path.join(o.dir, `.${id}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx' });
  let size = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      out.on('error', reject);
      req.on('error', reject);
      req.on('aborted', () => reject(new Error('the client went away')));
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxBytes) reject(new UploadTooLarge());
        else if (!out.write(chunk)) req.pause();
      });
      out.on('drain', () => req.resume());
      req.on('end', () => out.end(() => resolve()));
    });
    await rename(tmp, path.join(o.dir, id));
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    if (err instanceof UploadTooLarge) return fail(413, `the upload is over the ${o.maxBytes}-byte limit`);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') return fail(507, 'the disk is full; free some space and try again');
    if (!res.destroyed) fail(400, 'the upload did not arrive whole');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ uploadId: id, size }));
}

class UploadTooLarge extends Error {}

/** Names of uploaded files: 24 lowercase hex digits (the only form services accept). */
function uploadId(): string {
  return randomBytes(12).toString('hex');
}
