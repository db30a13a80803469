// Textual inversion: one new word whose embedding row trains while every network stays frozen; the
// result is an A1111-style embedding file whose metadata names the word.
import { saveSafetensors } from '../../io/safetensors.ts';
import { tensor } from '../../tensor.ts';
import { FinetuneError } from '../errors.ts';
import {
  checkTriggerWord, EMBEDDING_PARAM, extendTokenizer, meanEmbedding, textualInversionHooks, TextualInversionError, TOKEN_EMBEDDING, TOKEN_METADATA,
} from '../ti.ts';
import { methodInfo } from './catalog.ts';
import { requireFileOut } from './lora.ts';
import type { FinetuneMethodModule } from './method.ts';

export const tiMethod: FinetuneMethodModule = {
  ...methodInfo('ti')!,
  weightDecay: 0,
  setup(o, manifest) {
    requireFileOut(o.out, 'ti');
    const raw = o.triggerWord?.trim() ?? '';
    if (!raw) throw new FinetuneError('textual inversion needs a trigger word: the new word the embedding teaches (--trigger)');
    if (!manifest) throw new FinetuneError('textual inversion on Stable Diffusion files and diffusers folders is not supported yet (it starts from a model package); use lora');
    const tokSpec = manifest.tokenizer;
    if (!tokSpec?.vocabulary) throw new FinetuneError("textual inversion needs the model's word tokenizer with an inline vocabulary");
    try {
      const word = checkTriggerWord(raw, tokSpec.vocabulary);
      const tok = extendTokenizer(tokSpec, [word]);
      return { trigger: word, word: { word, id: tokSpec.vocabulary.length, pad: tok.pad, tokenize: (t) => tok.encode(t) } };
    } catch (e) {
      throw e instanceof TextualInversionError ? new FinetuneError(e.message) : e;
    }
  },
  hooks: (_s, _unet, text) => textualInversionHooks(text),
  trainsText: () => true,
  isTrained: (param, base) => !base.has(param),
  initialParams: (_trained, base, text) => new Map([[EMBEDDING_PARAM, meanEmbedding(base.get(TOKEN_EMBEDDING)!, text.width)]]),
  adapters(params, _modules, s) {
    const e = params.get(EMBEDDING_PARAM)!;
    return [{ kind: 'embedding', file: 'training.safetensors', tensors: new Map([[EMBEDDING_PARAM, tensor('float32', [1, e.length], e)]]), metadata: {}, token: s.word!.word }];
  },
  async write(r) {
    const e = r.params.get(EMBEDDING_PARAM)!;
    await saveSafetensors(r.out, { [EMBEDDING_PARAM]: tensor('float32', [1, e.length], e) }, { ...r.metadata, [TOKEN_METADATA]: r.setup.word!.word });
  },
};
