// STOP-GAP until electron/engine/io's tokenizers land: model.json `tokenizer.type: 'word'` with an
// inline vocabulary — lower-cased words and punctuation, '<start>' … '<end>', padded with '<pad>',
// unknown words dropped. loadModel takes any TokenizerFactory; this is only its default.
import type { TokenizerSpec } from '../io/model-package.ts';
import { PipelineError } from './errors.ts';

export async function wordTokenizer(spec: TokenizerSpec, _dir: string): Promise<(text: string) => number[]> {
  if (spec.type !== 'word' || !spec.vocabulary) {
    throw new PipelineError(`tokenizer type '${spec.type}' is not supported by this build (only 'word' with an inline vocabulary)`);
  }
  const ids = new Map(spec.vocabulary.map((w, i) => [w, i]));
  const special = (w: string): number => {
    const id = ids.get(w);
    if (id === undefined) throw new PipelineError(`the tokenizer vocabulary lacks the special token ${w}`);
    return id;
  };
  const [pad, start, end] = [special('<pad>'), special('<start>'), special('<end>')];
  const L = spec.maxLength;
  return (text) => {
    const words = text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
    const body = words.map((w) => ids.get(w)).filter((id): id is number => id !== undefined).slice(0, L - 2);
    const out = [start, ...body, end];
    while (out.length < L) out.push(pad);
    return out;
  };
}
