// The interface every fine-tuning method implements. The run (../train.ts) is the same for all of them:
// it reads the data, builds the training graph with the method's layer hooks, trains the params the
// method names, and hands the result back to the method to write. A new method is a module beside this
// one, an entry in catalog.ts and a line in index.ts.
import type { ModelManifest } from '../../io/model-package.ts';
import type { TextEncoderConfig, UNetConfig } from '../../nn/config.ts';
import type { LayerHooks } from '../../nn/layers.ts';
import type { LoadedAdapter } from '../adapters.ts';
import type { LoraConfig, LoraModule, LoraTarget } from '../lora.ts';
import type { MethodInfo } from './catalog.ts';

/** The options a method reads (a subset of FinetuneOptions). */
export interface MethodOptions {
  readonly out: string;
  readonly triggerWord?: string;
  readonly rank?: number;
  readonly alpha?: number;
  readonly targets?: readonly LoraTarget[];
}

/** A new word a method teaches: its id in the extended vocabulary, and the tokenizer that knows it. */
export interface TaughtWord {
  readonly word: string;
  readonly id: number;
  readonly pad: number;
  tokenize(text: string): ArrayLike<number>;
}

/** What a method decided from the options, before training starts. */
export interface MethodSetup {
  /** Put before every caption ('' for none). */
  readonly trigger: string;
  readonly lora?: LoraConfig;
  readonly word?: TaughtWord;
}

/** Everything a method may need to write its result. */
export interface MethodOutput {
  readonly out: string;
  readonly name: string;
  /** The base package's manifest; null when the base is a file of another layout (SD file, diffusers folder). */
  readonly manifest: ModelManifest | null;
  readonly base: ReadonlyMap<string, Float32Array>;
  /** The trained params (EMA weights when EMA is on). */
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly modules: readonly LoraModule[];
  readonly setup: MethodSetup;
  /** kohya-style `ss_*` and `ldm_studio.*` metadata of the run. */
  readonly metadata: Record<string, string>;
}

export interface FinetuneMethodModule extends MethodInfo {
  readonly weightDecay: number;
  /**
   * Validates the method's own options (throwing FinetuneError) and prepares the run. `manifest` is the
   * base package's, or null for SD files and diffusers folders.
   */
  setup(o: MethodOptions, manifest: ModelManifest | null): MethodSetup;
  /** Layer hooks that add the trained branches to the graph (none: the graph is the plain model). */
  hooks(s: MethodSetup, unet: UNetConfig, text: TextEncoderConfig, found: (m: LoraModule) => void): LayerHooks | null;
  /** Whether the text encoder runs inside the training graph (something in it trains). */
  trainsText(s: MethodSetup): boolean;
  /** Whether a param of the graph trains; the others are frozen at the base model's values. */
  isTrained(param: string, base: ReadonlyMap<string, Float32Array>): boolean;
  /** Starting values of trained params that do not start from the graph's own initialisation. */
  initialParams(trained: readonly string[], base: ReadonlyMap<string, Float32Array>, text: TextEncoderConfig): Map<string, Float32Array>;
  /** The trained result as adapters for generation (sample images use these too). */
  adapters(params: ReadonlyMap<string, Float32Array>, modules: readonly LoraModule[], s: MethodSetup): LoadedAdapter[];
  write(r: MethodOutput): Promise<void>;
}
