// Where the tokenizer files shipped with the app live: resources/tokenizers/ of this checkout, the
// `tokenizers` folder of an installed app's resources (electron-builder extraResources), or the folder
// LDM_TOKENIZERS_DIR names.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function tokenizerResourcesDir(): string {
  const fromEnv = process.env.LDM_TOKENIZERS_DIR;
  if (fromEnv) return fromEnv;
  const resourcesPath = (process as { resourcesPath?: string }).resourcesPath;
  if (resourcesPath && fs.existsSync(path.join(resourcesPath, 'tokenizers'))) return path.join(resourcesPath, 'tokenizers');
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../resources/tokenizers');
}

/** A shipped tokenizer file, e.g. tokenizerResource('clip', 'bpe_simple_vocab_16e6.txt.gz'). */
export function tokenizerResource(...parts: string[]): string {
  return path.join(tokenizerResourcesDir(), ...parts);
}
