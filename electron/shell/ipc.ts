// Binds the whole StudioApi contract to ipcMain, generically: one channel for requests (answered with
// {ok, output} / {ok:false, error} envelopes, since Errors do not survive the bridge) and one for events.
import { BrowserWindow, dialog, ipcMain, type IpcMainInvokeEvent } from 'electron';
import { dispatch, forwardEvents, type StudioBackend } from '../api/dispatch.ts';

export const REQUEST_CHANNEL = 'studio:request';
export const EVENT_CHANNEL = 'studio:event';
export const PICK_CHANNEL = 'shell:pick';

export type PickKind = 'folder' | 'file';

/** Only our own pages may call the backend: the app:// protocol that serves the built renderer. */
function fromApp(event: IpcMainInvokeEvent, origin: string): boolean {
  const url = event.senderFrame?.url ?? '';
  return url.startsWith(origin);
}

export function bindStudioIpc(backend: StudioBackend, appOrigin: string): () => void {
  ipcMain.handle(REQUEST_CHANNEL, (event, name: unknown, input: unknown) => {
    if (!fromApp(event, appOrigin)) {
      return { ok: false, error: { code: 'forbidden', message: 'Requests are only accepted from the studio window.' } };
    }
    return dispatch(backend, name, input);
  });
  // Native dialogs are a shell capability, not a service: the renderer only learns paths the user picked.
  ipcMain.handle(PICK_CHANNEL, async (event, kind: PickKind) => {
    if (!fromApp(event, appOrigin)) return null;
    const win = BrowserWindow.fromWebContents(event.sender);
    const options: Electron.OpenDialogOptions =
      kind === 'folder' ? { properties: ['openDirectory'] } : { properties: ['openFile'], filters: [{ name: 'Models', extensions: ['safetensors', 'onnx', 'json'] }] };
    const result = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    const picked = result.canceled ? null : (result.filePaths[0] ?? null);
    if (picked !== null) backend.allowPath?.(picked);
    return picked;
  });
  const unsubscribe = forwardEvents(backend, (name, payload) => {
    for (const win of BrowserWindow.getAllWindows()) {
      if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, name, payload);
    }
  });
  return () => {
    unsubscribe();
    ipcMain.removeHandler(REQUEST_CHANNEL);
    ipcMain.removeHandler(PICK_CHANNEL);
  };
}
