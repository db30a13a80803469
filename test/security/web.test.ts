// Hostile web clients: malformed WebSocket frames of each kind, an oversized message, foreign origins and
// large uploads. A bad client loses its own connection; the studio and every other client carry on.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import sharp from 'sharp';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { startWebServer, type WebServer } from '../../electron/web/server.ts';

const MAX_MESSAGE = 1024 * 1024;
const MAX_UPLOAD = 2 * 1024 * 1024;

/** Opens a raw TCP connection, completes the WebSocket handshake, and returns the socket. */
async function rawSocket(port: number, token: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  sock.write(
    `GET /ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        sock.off('data', onData);
        if (head.startsWith('HTTP/1.1 101')) resolve();
        else reject(new Error(head.split('\r\n')[0]));
      }
    };
    sock.on('data', onData);
  });
  return sock;
}

/** A client frame: first byte (FIN, RSV, opcode), masked payload; `declared` overrides the length field. */
function frame(first: number, payload: Buffer, declared?: bigint): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  let len: Buffer;
  if (declared !== undefined) {
    len = Buffer.alloc(9);
    len[0] = 0x80 | 127;
    len.writeBigUInt64BE(declared, 1);
  } else if (payload.length < 126) len = Buffer.from([0x80 | payload.length]);
  else {
    len = Buffer.alloc(3);
    len[0] = 0x80 | 126;
    len.writeUInt16BE(payload.length, 1);
  }
  return Buffer.concat([Buffer.from([first]), len, mask, masked]);
}

/** Sends bytes on a fresh raw socket and resolves when the server has closed it. */
async function sendHostile(port: number, token: string, bytes: Buffer): Promise<'closed'> {
  const sock = await rawSocket(port, token);
  sock.on('error', () => undefined);
  const closed = new Promise<'closed'>((resolve) => sock.once('close', () => resolve('closed')));
  sock.write(bytes);
  return closed;
}

function rpc(url: string, name: string, input: object = {}, headers: Record<string, string> = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => ws.send(JSON.stringify({ t: 'req', id: 1, name, input })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.t === 'evt') return; // events (history.changed…) may arrive before the answer
      ws.close();
      resolve(msg);
    });
    ws.on('error', reject);
  });
}

describe('web mode against hostile clients', () => {
  let dir: string;
  let studio: Studio;
  let server: WebServer;
  let url: string;
  const logged: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-hostile-'));
    const staticDir = path.join(dir, 'dist');
    mkdirSync(staticDir);
    writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>studio</title>');
    studio = await createStudio({ dataDir: path.join(dir, 'data'), transport: 'web', embeddedModelsDir: path.join(dir, 'none') });
    server = await startWebServer({
      backend: studio,
      staticDir,
      port: 0,
      uploadDir: studio.paths.uploads,
      maxMessageBytes: MAX_MESSAGE,
      maxUploadBytes: MAX_UPLOAD,
      log: (l) => logged.push(l),
    });
    url = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
  });
  afterAll(async () => {
    await server.close();
    await studio.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hostile: [string, () => Buffer][] = [
    ['a text frame of invalid UTF-8', () => frame(0x81, Buffer.from([0xc3, 0x28, 0xff, 0xfe]))],
    ['RSV1 set without an extension', () => frame(0xc1, Buffer.from('{"t":"req"}'))],
    ['RSV2 and RSV3 set', () => frame(0xb1, Buffer.from('{}'))],
    ['a frame declaring 1 TiB', () => frame(0x82, Buffer.alloc(0), 1n << 40n)],
    ['a frame declaring a length with the top bit set', () => frame(0x82, Buffer.alloc(0), 1n << 63n)],
    ['an unknown opcode', () => frame(0x83, Buffer.from('x'))],
    ['a fragmented control frame', () => frame(0x09, Buffer.from('ping'))],
    ['an unmasked frame', () => Buffer.from([0x81, 0x02, 0x68, 0x69])],
    ['a close frame with an invalid code', () => frame(0x88, Buffer.from([0x03, 0xe7]))],
  ];
  for (const [what, bytes] of hostile) {
    it(`drops only the client that sends ${what}`, async () => {
      const bystander = new WebSocket(url);
      await new Promise((resolve) => bystander.once('open', resolve));
      expect(await sendHostile(server.port, server.token, bytes())).toBe('closed');
      expect(bystander.readyState).toBe(WebSocket.OPEN);
      const reply = await rpc(url, 'system.info');
      expect(reply.ok).toBe(true);
      bystander.close();
    });
  }

  it('drops a client whose message is over the size limit, and says so in the log', async () => {
    const ws = new WebSocket(url);
    await new Promise((resolve) => ws.once('open', resolve));
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    ws.send(JSON.stringify({ t: 'req', id: 1, name: 'gallery.save', input: { base64: 'A'.repeat(MAX_MESSAGE + 10) } }));
    expect(await code).toBe(1009);
    expect(logged.some((l) => /web client dropped: .*(Max payload|too big)/i.test(l))).toBe(true);
    expect((await rpc(url, 'system.info')).ok).toBe(true);
  });

  it('survives a client that sends junk where the handshake should be, or hangs up mid-frame', async () => {
    const junk = net.connect(server.port, '127.0.0.1');
    junk.on('error', () => undefined);
    junk.resume();
    junk.write('\x00\x01\x02 not http at all\r\n\r\n');
    await new Promise((resolve) => junk.once('close', resolve));
    const half = await rawSocket(server.port, server.token);
    half.write(frame(0x81, Buffer.from('{"t":"req","id":1}')).subarray(0, 5));
    half.destroy();
    expect((await rpc(url, 'system.info')).ok).toBe(true);
  });

  it('refuses sockets from another origin, and names that rebind to this address', async () => {
    const port = server.port;
    const open = (origin: string, host?: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url, { origin, headers: host ? { Host: host } : {} });
        ws.on('open', () => (ws.close(), resolve('open')));
        ws.on('error', (err) => resolve(err.message));
      });
    expect(await open('http://evil.example')).toMatch(/403/);
    expect(await open(`http://evil.example:${port}`, `evil.example:${port}`)).toMatch(/403/);
    expect(await open(`http://127.0.0.1:${port + 1}`)).toMatch(/403/);
    expect(await open(`http://127.0.0.1:${port}`)).toBe('open');
    expect(await open(`http://localhost:${port}`, `localhost:${port}`)).toBe('open');
  });

  it('takes large pictures as HTTP uploads with the token, up to the cap, leaving no temp file behind', async () => {
    const base = `http://127.0.0.1:${server.port}/upload`;
    const body = Buffer.alloc(MAX_UPLOAD - 1, 7);
    const ok = await fetch(`${base}?token=${server.token}`, { method: 'POST', body });
    expect(ok.status).toBe(200);
    const { uploadId } = (await ok.json()) as { uploadId: string };
    expect(readFileSync(path.join(studio.paths.uploads, uploadId)).equals(body)).toBe(true);

    expect((await fetch(base, { method: 'POST', body: 'x' })).status).toBe(401);
    expect((await fetch(`${base}?token=${server.token}`, { method: 'POST', body: 'x', headers: { Origin: 'http://evil.example' } })).status).toBe(403);
    const big = await fetch(`${base}?token=${server.token}`, { method: 'POST', body: Buffer.alloc(MAX_UPLOAD + 1) });
    expect(big.status).toBe(413);
    // Streamed without a length: the cap is enforced while it arrives.
    const chunks = async function* () {
      for (let i = 0; i < 5; i++) yield Buffer.alloc(MAX_UPLOAD / 2);
    };
    const streamed = await fetch(`${base}?token=${server.token}`, { method: 'POST', body: (ReadableStream as unknown as { from(it: AsyncIterable<Buffer>): ReadableStream }).from(chunks()), duplex: 'half' } as RequestInit).catch(() => null);
    expect(streamed === null || streamed.status === 413).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(studio.paths.uploads)).toEqual([uploadId]);

    // An upload names an image source; anything that is not an upload id is refused by the contract.
    const bad = await rpc(url, 'jobs.submit', { spec: { kind: 'img2img', modelId: 'x', prompt: '', init: { uploadId: '../history.db' } } });
    expect(bad.error.code).toBe('invalid_input');
    expect(existsSync(path.join(studio.paths.root, 'history.db'))).toBe(true);
  });

  it('saves a canvas picture sent as an upload (pictures too large for one message), with its mask', async () => {
    const send = async (bytes: Buffer) => {
      const res = await fetch(`http://127.0.0.1:${server.port}/upload?token=${server.token}`, { method: 'POST', body: new Uint8Array(bytes) });
      return ((await res.json()) as { uploadId: string }).uploadId;
    };
    const picture = await sharp({ create: { width: 640, height: 384, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    const mask = await sharp({ create: { width: 640, height: 384, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
    const saved = await rpc(url, 'gallery.save', { image: { uploadId: await send(picture) }, prompt: 'uploaded canvas', mask: { uploadId: await send(mask) } });
    expect(saved.ok).toBe(true);
    const record = await studio.handlers['history.get']({ id: saved.output.id });
    expect([record.params.width, record.params.height, record.prompt]).toEqual([640, 384, 'uploaded canvas']);
    expect(record.maskPath).not.toBeNull();
  });
});
