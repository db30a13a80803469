// The class-conditional emoji LDM's classes (issue 14, item 3): the emoji subcategories of
// emoji-datasource-google's emoji.json ("face-smiling", "animal-mammal", … 98 of them), sorted by name,
// and the class of every picture of the embedded model's data set. The class table has one more row at
// the end, the "no class" entry that classifier-free guidance uses (as cin256-v2's class 1000).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { EmojiSample } from './emoji-dataset.ts';

/** Named after its base, so the text model stays first in the studio's model lists (sorted by name). */
export const CLASS_MODEL_NAME = 'emoji-ldm-32-class';
export const CLASS_WORK_DIR = 'training/embedded-class';

interface Entry {
  image: string;
  category: string;
  subcategory: string;
  has_img_google: boolean;
  skin_variations?: Record<string, { image: string }>;
}

const require = createRequire(import.meta.url);

/** Picture file name → subcategory, for every emoji and skin-tone variant in emoji.json. */
function subcategoryByFile(): Map<string, string> {
  const file = require.resolve('emoji-datasource-google/emoji.json');
  const entries = JSON.parse(readFileSync(file, 'utf8')) as Entry[];
  const out = new Map<string, string>();
  for (const e of entries) {
    if (!e.has_img_google || e.category === 'Component') continue;
    out.set(e.image, e.subcategory);
    for (const v of Object.values(e.skin_variations ?? {})) out.set(v.image, e.subcategory);
  }
  return out;
}

export interface EmojiClasses {
  /** The class names, sorted (index = class label); the "no class" label is names.length. */
  names: string[];
  /** Class label of each sample of the data set (same order). */
  labelOf: Int32Array;
}

/** The classes of a data set's samples (listEmojiSamples / loadEmojiDataset order). */
export function emojiClasses(samples: readonly EmojiSample[]): EmojiClasses {
  const byFile = subcategoryByFile();
  const subs = samples.map((s) => {
    const sub = byFile.get(path.basename(s.file));
    if (!sub) throw new Error(`${s.file} is not in emoji.json: rebuild the data set cache (.cache/embedded)`);
    return sub;
  });
  const names = [...new Set(subs)].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  return { names, labelOf: Int32Array.from(subs, (s) => index.get(s)!) };
}

/** The words the text model saw for a subcategory in its captions ("face-smiling" → "face smiling"). */
export function classWords(name: string): string {
  return name.replace(/-/g, ' ');
}
