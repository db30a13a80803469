// models.details: what a model's own files say about it — its files, a package's README / model card and
// licence text, and for LoRAs the trigger words from their training metadata (kohya's ss_* keys, our trainer's
// ldm_studio.dataset).
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { ModelDetails, ModelInfo } from '../api/models.ts';
import { readSafetensorsHeader } from '../engine/io/safetensors.ts';

const MAX_FILES = 200;
const MAX_TEXT = 64 * 1024;
/** How many of a dataset's most frequent tags are offered as trigger words. */
const MAX_TAGS = 12;
const CARD_NAMES = ['readme.md', 'model_card.md', 'modelcard.md', 'readme.txt', 'readme'];
const LICENCE_NAMES = ['license', 'license.md', 'license.txt', 'licence', 'licence.md', 'licence.txt'];

export async function readModelDetails(m: ModelInfo): Promise<ModelDetails> {
  const isDir = (await stat(m.path)).isDirectory();
  const files = isDir ? await listFiles(m.path) : [{ path: basename(m.path), bytes: (await stat(m.path)).size }];
  files.sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
  const topLevel = isDir ? await readdir(m.path) : [];
  const lora = m.kind === 'lora' && m.path.toLowerCase().endsWith('.safetensors') ? loraFacts((await readSafetensorsHeader(m.path)).metadata) : null;
  return {
    id: m.id,
    files: files.slice(0, MAX_FILES),
    fileCount: files.length,
    card: isDir ? await readNamed(m.path, topLevel, CARD_NAMES) : null,
    licenceText: isDir ? await readNamed(m.path, topLevel, LICENCE_NAMES) : null,
    triggerWords: lora?.triggerWords ?? [],
    outputName: lora?.outputName ?? null,
    trainedOn: lora?.trainedOn ?? null,
  };
}

/** Trigger words, training name and base model from a LoRA's safetensors metadata. */
export function loraFacts(meta: Record<string, string>): { triggerWords: string[]; outputName: string | null; trainedOn: string | null } {
  const words: string[] = [];
  const ours = parseJson(meta['ldm_studio.dataset']) as { trigger?: unknown } | null;
  if (typeof ours?.trigger === 'string' && ours.trigger.trim()) words.push(ours.trigger.trim());
  // ss_tag_frequency: {"<dataset folder>": {"<tag>": count, …}, …}; folders are summed.
  const counts = new Map<string, number>();
  const freq = parseJson(meta.ss_tag_frequency);
  if (freq && typeof freq === 'object') {
    for (const tags of Object.values(freq as Record<string, unknown>)) {
      if (!tags || typeof tags !== 'object') continue;
      for (const [tag, n] of Object.entries(tags as Record<string, unknown>)) {
        const t = tag.trim();
        if (t && typeof n === 'number' && Number.isFinite(n)) counts.set(t, (counts.get(t) ?? 0) + n);
      }
    }
  }
  const byCount = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([t]) => t);
  for (const t of byCount) {
    if (words.length >= MAX_TAGS) break;
    if (!words.includes(t)) words.push(t);
  }
  return {
    triggerWords: words,
    outputName: meta.ss_output_name?.trim() || null,
    trainedOn: meta.ss_sd_model_name?.trim() || meta['ldm_studio.base_model']?.trim() || null,
  };
}

function parseJson(text: string | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function listFiles(dir: string): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out.push({ path: relative(dir, full).split(sep).join('/'), bytes: (await stat(full)).size });
  }
  return out;
}

/** The first of `names` (case-insensitive) among the folder's files, as text cut at 64 KiB. */
async function readNamed(dir: string, entries: string[], names: string[]): Promise<{ file: string; text: string } | null> {
  for (const name of names) {
    const file = entries.find((e) => e.toLowerCase() === name);
    if (!file) continue;
    const full = join(dir, file);
    if (!(await stat(full)).isFile() || dirname(full) !== dir) continue;
    const bytes = await readFile(full);
    const text = bytes.subarray(0, MAX_TEXT).toString('utf8');
    return { file, text: bytes.length > MAX_TEXT ? `${text}\n… (cut at 64 KiB: the whole text is in ${file})` : text };
  }
  return null;
}
