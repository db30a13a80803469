// What an `ldm generate` prompt names beyond its text, as AUTOMATIC1111 reads it: `<lora:NAME:w>` tags
// (NAME.safetensors in a --lora-dir folder, as A1111's models/Lora) and textual-inversion embeddings
// written as words (every .safetensors of an --embeddings folder whose file name appears in the prompt).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AdapterUse } from '../engine/finetune/adapters.ts';
import { extractExtraNetworks, PromptSyntaxError, type LoraTag } from '../engine/text/index.ts';
import { UsageError } from './args.ts';
import { readFileBytes } from './image-files.ts';

export type NamedAdapter = AdapterUse & { name: string; hash: string; strength: number; kind: 'lora' | 'embedding' };

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFileBytes(file)).digest('hex');
}

async function exists(file: string): Promise<boolean> {
  return (await fsp.stat(file).catch(() => null))?.isFile() ?? false;
}

function tags(prompt: string): LoraTag[] {
  try {
    return extractExtraNetworks(prompt).loras;
  } catch (err) {
    if (err instanceof PromptSyntaxError) throw new UsageError(err.message);
    throw err;
  }
}

/** The LoRAs and embeddings the prompts name, found in `loraDirs` (default: the current folder) and `embeddingDirs`. */
export async function promptAdapters(prompts: readonly string[], loraDirs: readonly string[], embeddingDirs: readonly string[]): Promise<NamedAdapter[]> {
  const out: NamedAdapter[] = [];
  const dirs = loraDirs.length ? loraDirs : ['.'];
  for (const p of prompts) {
    for (const tag of tags(p)) {
      let file: string | undefined;
      for (const d of dirs) {
        const f = path.resolve(d, `${tag.name}.safetensors`);
        if (await exists(f)) {
          file = f;
          break;
        }
      }
      if (!file) throw new UsageError(`the prompt asks for <lora:${tag.name}> but there is no ${tag.name}.safetensors in ${dirs.join(', ')}; give the folder with --lora-dir DIR`);
      out.push({ file, name: tag.name, kind: 'lora', hash: await sha256(file), strength: tag.unet, ...(tag.te !== tag.unet ? { textStrength: tag.te } : {}) });
    }
  }
  const text = prompts.map((p) => extractExtraNetworks(p).prompt).join('\n');
  for (const d of embeddingDirs) {
    let names: string[];
    try {
      names = await fsp.readdir(d);
    } catch (err) {
      throw new UsageError(`--embeddings ${d}: ${(err as Error).message}`);
    }
    for (const n of names.filter((x) => /\.safetensors$/i.test(x)).sort()) {
      const stem = n.replace(/\.safetensors$/i, '');
      const word = new RegExp(`(^|[^\\p{L}\\p{N}_])${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\p{N}_])`, 'iu');
      if (!word.test(text)) continue;
      const file = path.resolve(d, n);
      out.push({ file, name: stem, kind: 'embedding', hash: await sha256(file), strength: 1 });
    }
  }
  return out;
}
