// Where the studio keeps the user's data when no --data is given: the same folder Electron's
// app.getPath('userData') uses, so the desktop app and web mode share one history.
import os from 'node:os';
import path from 'node:path';

export const PRODUCT_NAME = 'Latent Diffusion Studio';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  const home = os.homedir();
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), PRODUCT_NAME);
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', PRODUCT_NAME);
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), PRODUCT_NAME);
}
