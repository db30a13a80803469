// The 1,000 ImageNet class names shipped in resources/imagenet/classes.json (see SOURCE.md there), for the
// class-conditional release (cin256-v2): the Generate view offers them, and a class may be given by name.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function imagenetDir(): string {
  const fromEnv = process.env.LDM_IMAGENET_DIR;
  if (fromEnv) return fromEnv;
  const resourcesPath = (process as { resourcesPath?: string }).resourcesPath;
  if (resourcesPath && fs.existsSync(path.join(resourcesPath, 'imagenet'))) return path.join(resourcesPath, 'imagenet');
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../resources/imagenet');
}

let cached: readonly string[] | null = null;

/** Class index → name (1,000 entries). */
export function imagenetClassNames(): readonly string[] {
  if (!cached) {
    const list = JSON.parse(fs.readFileSync(path.join(imagenetDir(), 'classes.json'), 'utf8')) as unknown;
    if (!Array.isArray(list) || list.length !== 1000 || !list.every((x) => typeof x === 'string')) {
      throw new Error('resources/imagenet/classes.json must list 1000 class names');
    }
    cached = list as string[];
  }
  return cached;
}

/** A class given as an index ('388') or an ImageNet name ('giant panda', any case); null when neither. */
export function imagenetClassIndex(text: string): number | null {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const names = imagenetClassNames();
  // exact case first: 'Cardigan' (264, the corgi) and 'cardigan' (474, the sweater) are both classes
  const exact = names.indexOf(t);
  if (exact >= 0) return exact;
  const i = names.findIndex((n) => n.toLowerCase() === t.toLowerCase());
  return i < 0 ? null : i;
}
