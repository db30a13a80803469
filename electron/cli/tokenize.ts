// `ldm tokenize "PROMPT" [--model M] [--tokenizer clip|openclip|bert] [--json]`: the token ids of a prompt,
// chunk by chunk as the text encoder gets them, and the "38/75"-style count, so a user can see where a
// long prompt is split or cut. Prompt syntax (emphasis, BREAK, <lora:…> tags) is read as in generation.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countPromptTokens, promptTokenizerFor, TOKENIZER_NAMES, type TokenizerName } from '../engine/text/token-count.ts';
import { parseCommandLine, UsageError, type FlagSpecs } from './args.ts';
import type { Command } from './command.ts';
import type { CliIo } from './command.ts';
import { modelsDir } from './model-dir.ts';

const TOKENIZE_FLAGS: FlagSpecs = {
  model: { type: 'string', arg: 'PATH|NAME', help: 'whose tokenizer: a model package, diffusers folder or checkpoint, or a name in resources/models/ (default: CLIP, as SD 1.x)' },
  tokenizer: { type: 'string', arg: 'NAME', help: `${TOKENIZER_NAMES.join(', ')}: this tokenizer instead of the model's` },
  json: { type: 'boolean', help: 'print the result as JSON' },
};

export const tokenizeCommand: Command = {
  summary: 'show the token ids and count of a prompt ("38/75")',
  args: '"PROMPT" [--model PATH|NAME] [--json]',
  flags: TOKENIZE_FLAGS,
  run: tokenize,
};

function modelLocation(model: string | undefined): string | undefined {
  if (model === undefined || fs.existsSync(model)) return model;
  const named = path.join(modelsDir(), model);
  if (!model.includes('/') && !model.includes('\\') && fs.existsSync(named)) return named;
  throw new UsageError(`--model ${model}: no such file or folder, nor a model of that name in ${modelsDir()}`);
}

async function tokenize(argv: readonly string[], io: CliIo): Promise<void> {
  const p = parseCommandLine(argv, TOKENIZE_FLAGS);
  if (p.positionals.length !== 1) throw new UsageError(`'ldm tokenize' takes one prompt (quote it): ldm tokenize "a photo of a cat"`);
  const name = p.flags.tokenizer as string | undefined;
  if (name !== undefined && !(TOKENIZER_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`--tokenizer ${name}: choose ${TOKENIZER_NAMES.join(', ')}`);
  }
  const tok = promptTokenizerFor(modelLocation(p.flags.model as string | undefined), name as TokenizerName | undefined);
  const r = countPromptTokens(p.positionals[0]!, tok);
  if (p.flags.json) {
    io.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  io.stdout.write(`${r.tokenCount}/${r.maxTokens} tokens, ${r.chunks.length} chunk${r.chunks.length === 1 ? '' : 's'} (${r.tokenizer})\n`);
  r.chunks.forEach((c, i) => {
    // Ids up to the first end token; the padding after it is summarised.
    const end = tok.tokenizer.end;
    const shown = c.ids.indexOf(end, 1) + 1 || c.ids.length;
    const padding = c.ids.length - shown;
    io.stdout.write(`chunk ${i + 1}: ${c.tokens}/${c.ids.length - 2}: ${c.ids.slice(0, shown).join(' ')}${padding ? ` (+${padding} padding)` : ''}\n`);
  });
  for (const l of r.loras) io.stdout.write(`lora ${l.name}: ${l.te}${l.unet !== l.te ? ` (UNet ${l.unet})` : ''}\n`);
}
