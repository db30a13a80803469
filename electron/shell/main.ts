// The desktop app: one window, sandboxed renderer served from app://studio with a strict CSP, the
// StudioApi bound over IPC, a single-instance lock and a remembered window size.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { app, BrowserWindow, protocol, screen, session, shell, type Rectangle } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../api/csp.ts';
import { createStudio } from '../services/studio.ts';
import { bindStudioIpc } from './ipc.ts';
import { utilityWorkerAdapter } from './utility-worker.ts';

// The app root (the folder or app.asar holding package.json): builds sit at fixed places inside it.
const appRoot = app.getAppPath();
const rendererDir = path.join(appRoot, 'renderer/dist');
const preloadPath = path.join(appRoot, 'dist/electron/shell/preload.cjs');
// A utility process reads the asar too, and loads native modules from app.asar.unpacked on its own.
const workerEntry = path.join(appRoot, 'dist/electron/workers/main.js');
const APP_ORIGIN = 'app://studio/';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

function dataDirFromArgs(): string {
  const i = process.argv.indexOf('--data');
  return i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]!) : app.getPath('userData');
}

async function serveRenderer(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  const rel = path.normalize(decodeURIComponent(pathname === '/' ? '/index.html' : pathname));
  const file = path.join(rendererDir, rel);
  if (!file.startsWith(rendererDir + path.sep)) return new Response('Forbidden', { status: 403 });
  try {
    const body = await readFile(file);
    return new Response(body, {
      headers: {
        'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      },
    });
  } catch {
    return new Response('Not found', { status: 404 });
  }
}

interface WindowState {
  bounds: Rectangle;
  maximized: boolean;
}

async function loadWindowState(file: string): Promise<WindowState | null> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as WindowState;
    return state.bounds.width >= 640 && state.bounds.height >= 480 ? state : null;
  } catch {
    return null;
  }
}

/** A remembered position is used only if the window would still be visible (monitors change). */
function onSomeDisplay(b: Rectangle): boolean {
  return screen.getAllDisplays().some(({ workArea: w }) => b.x < w.x + w.width - 80 && b.x + b.width > w.x + 80 && b.y >= w.y - 20 && b.y < w.y + w.height - 80);
}

async function createWindow(stateFile: string): Promise<BrowserWindow> {
  const state = await loadWindowState(stateFile);
  const placed = state !== null && onSomeDisplay(state.bounds);
  const win = new BrowserWindow({
    width: state?.bounds.width ?? 1440,
    height: state?.bounds.height ?? 920,
    x: placed ? state.bounds.x : undefined,
    y: placed ? state.bounds.y : undefined,
    minWidth: 900,
    minHeight: 600,
    backgroundColor: '#0e1014',
    title: 'Latent Diffusion Studio',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  if (state?.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  // No navigation away from the app and no new windows; links to the web open in the user's browser.
  win.webContents.on('will-navigate', (event, url) => {
    if (!url.startsWith(APP_ORIGIN)) event.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.on('close', () => {
    const saved: WindowState = { bounds: win.getNormalBounds(), maximized: win.isMaximized() };
    void writeFile(stateFile, JSON.stringify(saved)).catch(() => {});
  });
  await win.loadURL(APP_ORIGIN);
  return win;
}

async function start(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  let mainWindow: BrowserWindow | null = null;
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  await app.whenReady();
  const dataDir = dataDirFromArgs();
  await mkdir(dataDir, { recursive: true });
  protocol.handle('app', serveRenderer);
  // The studio needs no camera, microphone, location or notifications: refuse every permission but
  // writing to the clipboard (copy parameters).
  session.defaultSession.setPermissionRequestHandler((_wc, permission, callback) => callback(permission === 'clipboard-sanitized-write'));
  const backend = await createStudio({
    dataDir,
    transport: 'ipc',
    embeddedModelsDir: app.isPackaged ? path.join(process.resourcesPath, 'models') : path.join(appRoot, 'resources/models'),
    // Workers are utility processes: crash-isolated, and ended by Electron with the app.
    workerAdapter: utilityWorkerAdapter(workerEntry),
  });
  const unbind = bindStudioIpc(backend, APP_ORIGIN);
  const stateFile = path.join(app.getPath('userData'), 'window-state.json');
  mainWindow = await createWindow(stateFile);

  app.on('activate', async () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = await createWindow(stateFile);
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.once('will-quit', () => {
    unbind();
    void backend.close();
  });
}

start().catch((err: unknown) => {
  console.error(err);
  app.exit(1);
});
