// `npm start`: build, then open the desktop window. Where Electron cannot run (no display, or its binary
// is missing and cannot be downloaded) say so in one line and serve the same studio in web mode.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...opts });
  return r.status === 0;
}

/** The Electron executable, downloading it once if needed; null (with the reason) when it cannot be had. */
function electronBinary() {
  const pkgDir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  const pathFile = path.join(pkgDir, 'path.txt');
  const located = () => {
    if (!existsSync(pathFile)) return null;
    const exe = path.join(pkgDir, 'dist', readFileSync(pathFile, 'utf8'));
    return existsSync(exe) ? exe : null;
  };
  if (located()) return { exe: located() };
  const r = spawnSync(process.execPath, [path.join(pkgDir, 'install.js')], { cwd: pkgDir, encoding: 'utf8', timeout: 120_000 });
  const exe = r.status === 0 ? located() : null;
  return exe ? { exe } : { reason: 'its binary is missing and could not be downloaded' };
}

function whyNoDesktop() {
  if (process.env.LDM_WEB === '1') return 'LDM_WEB=1 asks for web mode';
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return 'there is no display';
  return null;
}

function webMode(reason) {
  console.log(`Electron cannot run here (${reason}): serving the studio in web mode instead.`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'electron/web/main.ts', ...args], { cwd: root, stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
}

if (!run(npm, ['run', '--silent', 'build'])) {
  console.error('The build failed; see the errors above.');
  process.exit(1);
}
const noDesktop = whyNoDesktop();
if (noDesktop) {
  webMode(noDesktop);
} else {
  const bin = electronBinary();
  if (!bin.exe) {
    webMode(bin.reason);
  } else {
    const child = spawn(bin.exe, ['.', ...args], { cwd: root, stdio: 'inherit' });
    child.on('error', (err) => webMode(`it failed to start: ${err.message}`));
    child.on('exit', (code) => process.exit(code ?? 0));
  }
}
