// AUTOMATIC1111's extra-network tags (modules/extra_networks.py parse_prompt and the LoRA handler of
// extensions-builtin/Lora): every `<kind:arg1:arg2…>` is taken out of the prompt (and replaced by
// nothing, so the text around it keeps its spaces). For `<lora:name>` / `<lora:name:te>` /
// `<lora:name:te:unet>` (also written `te=…`, `unet=…`): name, text-encoder strength (default 1),
// UNet strength (default: the text-encoder one). Other kinds (hypernet, lyco, …) are returned as found.

export class PromptSyntaxError extends Error {
  override name = 'PromptSyntaxError';
}

export interface ExtraNetworkTag {
  /** The tag's kind: 'lora', 'hypernet', … */
  kind: string;
  /** Arguments without '=' in order (the first is the network's name). */
  positional: string[];
  /** Arguments written key=value. */
  named: Record<string, string>;
}

export interface LoraTag {
  name: string;
  /** Strength on the text encoder. */
  te: number;
  /** Strength on the UNet. */
  unet: number;
}

export interface ExtractedTags {
  /** The prompt without its tags. */
  prompt: string;
  tags: ExtraNetworkTag[];
  /** The tags of kind 'lora', read. */
  loras: LoraTag[];
}

// Python's \w in a str pattern: letters, numbers and '_'.
const TAG = /<([\p{L}\p{N}_]+):([^>]+)>/gu;

export function extractExtraNetworks(prompt: string): ExtractedTags {
  const tags: ExtraNetworkTag[] = [];
  const rest = prompt.replace(TAG, (_m, kind: string, args: string) => {
    const positional: string[] = [];
    const named: Record<string, string> = {};
    for (const item of args.split(':')) {
      const eq = item.indexOf('=');
      if (eq >= 0) named[item.slice(0, eq)] = item.slice(eq + 1);
      else positional.push(item);
    }
    tags.push({ kind, positional, named });
    return '';
  });
  return { prompt: rest, tags, loras: tags.filter((t) => t.kind === 'lora').map(readLora) };
}

function readLora(tag: ExtraNetworkTag): LoraTag {
  const name = tag.positional[0];
  if (!name) throw new PromptSyntaxError('a <lora:…> tag has no name; write <lora:NAME> or <lora:NAME:0.8>');
  const num = (s: string, what: string): number => {
    const v = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(v)) throw new PromptSyntaxError(`<lora:${name}:…> has ${what} ${JSON.stringify(s)}, which is not a number; write e.g. <lora:${name}:0.8>`);
    return v;
  };
  let te = tag.positional.length > 1 ? num(tag.positional[1]!, 'the strength') : 1;
  if (tag.named.te !== undefined) te = num(tag.named.te, 'te=');
  let unet = tag.positional.length > 2 ? num(tag.positional[2]!, 'the UNet strength') : te;
  if (tag.named.unet !== undefined) unet = num(tag.named.unet, 'unet=');
  return { name, te, unet };
}
