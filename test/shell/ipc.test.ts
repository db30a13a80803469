// The Electron binding without Electron: 'electron' is replaced by a small in-memory stand-in for
// ipcMain/ipcRenderer/contextBridge, so the shell's generic wiring runs against a real studio backend.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const bus = vi.hoisted(() => {
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  const rendererListeners = new Map<string, ((event: unknown, ...args: unknown[]) => void)[]>();
  const exposed: Record<string, any> = {};
  const sent: unknown[][] = [];
  const window = {
    isDestroyed: () => false,
    webContents: {
      send: (channel: string, ...args: unknown[]) => {
        sent.push([channel, ...args]);
        for (const l of rendererListeners.get(channel) ?? []) l({}, ...args);
      },
    },
  };
  let senderUrl = 'app://studio/index.html';
  return {
    handlers,
    exposed,
    sent,
    setSenderUrl: (u: string) => (senderUrl = u),
    electron: {
      ipcMain: {
        handle: (channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) => handlers.set(channel, fn),
        removeHandler: (channel: string) => handlers.delete(channel),
      },
      ipcRenderer: {
        invoke: async (channel: string, ...args: unknown[]) => handlers.get(channel)!({ senderFrame: { url: senderUrl }, sender: {} }, ...args),
        on: (channel: string, l: (event: unknown, ...args: unknown[]) => void) => {
          rendererListeners.set(channel, [...(rendererListeners.get(channel) ?? []), l]);
        },
      },
      contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
      BrowserWindow: { getAllWindows: () => [window], fromWebContents: () => window },
      dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
    },
  };
});

vi.mock('electron', () => bus.electron);

const { bindStudioIpc } = await import('../../electron/shell/ipc.ts');
await import('../../electron/shell/preload.ts');
const { fromIpcBridge } = await import('../../renderer/src/lib/client.ts');
const { createStudio } = await import('../../electron/services/studio.ts');

describe('shell IPC binding', () => {
  let dir: string;
  let studio: Awaited<ReturnType<typeof createStudio>>;
  let unbind: () => void;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-ipc-'));
    studio = await createStudio({ dataDir: path.join(dir, 'data'), transport: 'ipc', embeddedModelsDir: path.join(dir, 'none') });
    unbind = bindStudioIpc(studio, 'app://studio/');
  });
  afterAll(async () => {
    unbind();
    await studio.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries requests from the preload bridge to the services and back, typed on the renderer side', async () => {
    const client = fromIpcBridge(bus.exposed.studioIpc);
    const info = await client.invoke('system.info', {});
    expect(info).toMatchObject({ transport: 'ipc', dataDir: path.join(dir, 'data') });
  });

  it('validates input and turns failures into errors with the service message and code', async () => {
    const client = fromIpcBridge(bus.exposed.studioIpc);
    await expect(client.invoke('history.get', { id: 'missing' })).rejects.toMatchObject({ code: 'not_found', name: 'StudioRequestError' });
    await expect(client.invoke('history.search', { limit: -1 } as never)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(bus.exposed.studioIpc.request('shell.rm', {})).resolves.toMatchObject({ ok: false, error: { code: 'unknown_request' } });
  });

  it('forwards backend events to the window and on to renderer listeners', async () => {
    const client = fromIpcBridge(bus.exposed.studioIpc);
    const seen: unknown[] = [];
    const off = client.on('history.changed', (p) => seen.push(p));
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
    const { id } = await client.invoke('gallery.save', { image: { base64: png }, prompt: 'one pixel' });
    expect(seen).toEqual([{ change: 'added', ids: [id] }]);
    off();
    expect(bus.sent.some(([channel, name]) => channel === 'studio:event' && name === 'history.changed')).toBe(true);
  });

  it('refuses requests from any page but the app', async () => {
    bus.setSenderUrl('https://example.com/');
    try {
      await expect(bus.exposed.studioIpc.request('system.info', {})).resolves.toMatchObject({ ok: false, error: { code: 'forbidden' } });
      await expect(bus.exposed.studioShell.pick('folder')).resolves.toBeNull();
    } finally {
      bus.setSenderUrl('app://studio/index.html');
    }
  });
});
