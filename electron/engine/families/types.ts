// What a model family module says about its files: how to recognise them, and how to open one as the
// configs, weights, tokenizer and defaults that the pipelines run (see families/index.ts for the list).
import type { SafetensorsEntry, SafetensorsHeader } from '../io/safetensors.ts';
import type { TextTokenizer } from '../io/tokenizers/types.ts';
import type { ModelConfigs, WeightSource } from '../pipelines/loaded-model.ts';

export class FamilyError extends Error {
  override name = 'FamilyError';
}

export type Prediction = 'epsilon' | 'v_prediction';

/** A file or folder as the families see it before opening it: cheap facts read once. */
export interface ModelSource {
  readonly path: string;
  readonly isDir: boolean;
  /** The safetensors header of a single file (absent for folders and other files). */
  readonly header?: SafetensorsHeader;
  /** Tensor name → entry, for a single safetensors file. */
  readonly tensors?: ReadonlyMap<string, SafetensorsEntry>;
  /** Names of the entries of a folder. */
  readonly entries?: readonly string[];
}

export interface OpenOptions {
  /** The user's choice of prediction type (per-model setting or --prediction); wins over the file's. */
  readonly prediction?: Prediction;
  /** Called while big weights are prepared (bytes done, bytes total). */
  readonly onLoadProgress?: (done: number, total: number) => void;
}

/** Everything the pipelines need to sample one model, as a family resolved it. */
export interface OpenedModel extends ModelConfigs {
  readonly family: string;
  readonly name: string;
  readonly kind: 'txt2img' | 'inpaint';
  readonly prediction: Prediction;
  /** Where the prediction type came from: the file, the user's setting, or the family's default. */
  readonly predictionSource: 'file' | 'setting' | 'default';
  /** prompt → exactly maxLength ids (one chunk, cut at the end). */
  readonly tokenize: (text: string) => ArrayLike<number>;
  /** The sub-word tokenizer prompts are chunked with (A1111 syntax, 75-token chunks); absent for word tokenizers. */
  readonly textTokenizer?: TextTokenizer;
  readonly weights: WeightSource;
  /** The files whose bytes are the model (for its hash). */
  readonly files: readonly string[];
  /** One line each, for the user: which weights were used, what was assumed. */
  readonly notes: readonly string[];
}

/** What recognising a file tells the registry and the import dialog (without opening it). */
export interface Recognised {
  readonly family: string;
  readonly label: string;
  readonly kind: 'txt2img' | 'inpaint';
  readonly name: string;
  readonly files: readonly string[];
  /** The prediction type when the file states it; null when it depends on the user's setting. */
  readonly prediction: Prediction | null;
  readonly notes: readonly string[];
}

/**
 * One model family. Adding a family = a module implementing this + a line in families/index.ts.
 * `recognise` must be cheap and decide from the header keys/shapes or the folder layout only; `open`
 * infers the configs from shapes (never guessing what they do not determine) and maps tensor names.
 */
export interface ModelFamily {
  readonly id: string;
  readonly label: string;
  recognise(source: ModelSource): boolean;
  describe(source: ModelSource): Promise<Recognised>;
  open(source: ModelSource, o: OpenOptions): Promise<OpenedModel>;
}

/** Something we can name but not run (SDXL, SD3, Flux, a LoRA offered as a model): says what it is. */
export interface Unsupported {
  /** null when not this; else one line naming what was detected. */
  detect(source: ModelSource): string | null;
}
