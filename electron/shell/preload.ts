// Runs sandboxed before the renderer: exposes the raw IPC bridge (window.studioIpc), from which
// renderer/src/lib/client.ts builds window.studio, and the native pickers (window.studioShell).
// Bundled on its own as CommonJS; channel names are repeated here so it pulls in nothing else.
import { contextBridge, ipcRenderer } from 'electron';

const listeners = new Map<string, Set<(payload: unknown) => void>>();

ipcRenderer.on('studio:event', (_event, name: string, payload: unknown) => {
  for (const listener of listeners.get(name) ?? []) listener(payload);
});

contextBridge.exposeInMainWorld('studioIpc', {
  request: (name: string, input: unknown) => ipcRenderer.invoke('studio:request', name, input),
  on(name: string, listener: (payload: unknown) => void) {
    const set = listeners.get(name) ?? new Set();
    listeners.set(name, set);
    set.add(listener);
    return () => set.delete(listener);
  },
});

contextBridge.exposeInMainWorld('studioShell', {
  pick: (kind: 'folder' | 'file') => ipcRenderer.invoke('shell:pick', kind) as Promise<string | null>,
});
