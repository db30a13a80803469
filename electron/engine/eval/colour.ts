// The colour measure of a text-to-image model (issue 14, item 5): does a colour word steer the colour of
// a concept it was never seen with? Pictures are made by the studio's txt2img pipeline for fixed prompts
// and seeds; each picture's hue (hue.ts) is read against the reference hue of every colour word, and the
// same prompts without the colour word are the baseline that shows what the word itself does.
import type { DiffusionModel } from '../pipelines/model.ts';
import { txt2img } from '../pipelines/txt2img.ts';
import { hueDistance, nearestHueName, pictureHue } from './hue.ts';

/**
 * The chromatic colour words of the embedded model's vocabulary that hue tells apart. Brown (hue ≈ 17°,
 * between red and orange: a dark orange), black, white and grey are told by lightness, not hue, and are
 * left out.
 */
export const COLOUR_WORDS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink'] as const;
export type ColourWord = (typeof COLOUR_WORDS)[number];

/**
 * Reference hue (degrees) of each colour word: the circular mean hue of the training pictures whose
 * caption has the word, people's pictures left out (scripts/embedded/colour-references.ts prints it).
 */
export const REFERENCE_HUES: Readonly<Record<ColourWord, number>> = {
  red: 11.6, // 10 pictures
  orange: 34.8, // 6
  yellow: 44.9, // 2
  green: 84.7, // 5
  blue: 206.8, // 7
  purple: 290.8, // 3
  pink: 336.4, // 1
};

/** People's pictures are mostly skin whatever their caption's colour word says (e.g. "man: red hair"). */
export function isPersonCaption(caption: string): boolean {
  return /, person\b/.test(caption) || caption.includes('skin tone');
}

/** The colour word whose reference hue is nearest, and how far (degrees). */
export function nearestColour(hue: number): { word: ColourWord; error: number } {
  const word = nearestHueName(hue, REFERENCE_HUES) as ColourWord;
  return { word, error: hueDistance(hue, REFERENCE_HUES[word]) };
}

/**
 * Concepts of the training set with a place for a colour word ({c}), and the colours each was captioned
 * with in training (those pairs are left out: the measure asks only for pairs the model never saw).
 * "large yellow circle", "green book" and "large green square" are held-out concepts.
 */
export const COLOUR_CONCEPTS: readonly { template: string; seen: readonly ColourWord[]; heldOut?: readonly ColourWord[] }[] = [
  { template: '{c} apple, food fruit', seen: ['red', 'green'] },
  { template: '{c} book, book paper', seen: ['orange', 'blue'], heldOut: ['green'] },
  { template: 'large {c} diamond, geometric', seen: ['orange', 'blue'] },
  { template: 'large {c} square, geometric', seen: ['red', 'orange', 'yellow', 'blue', 'purple'], heldOut: ['green'] },
  { template: 'large {c} circle, geometric', seen: ['red', 'orange', 'green', 'blue', 'purple'], heldOut: ['yellow'] },
  { template: '{c} automobile, transport ground', seen: [] },
  { template: '{c} tulip, plant flower', seen: [] },
  { template: '{c} t-shirt, clothing', seen: [] },
  { template: '{c} umbrella, sky & weather', seen: [] },
  { template: '{c} fish, animal marine', seen: [] },
];

export interface ColourPrompt {
  prompt: string;
  /** The same prompt without the colour word. */
  baseline: string;
  colour: ColourWord;
  kind: 'held-out concept' | 'unseen pair';
}

/**
 * Every concept × colour word the training captions never paired (see COLOUR_CONCEPTS). colourWeight ≠ 1
 * writes the colour word with A1111's emphasis, "(red:1.6) apple, food fruit"; the baselines stay as they are.
 */
export function colourPrompts(concepts = COLOUR_CONCEPTS, words: readonly ColourWord[] = COLOUR_WORDS, colourWeight = 1): ColourPrompt[] {
  if (!(colourWeight > 0) || !Number.isFinite(colourWeight)) throw new Error(`the colour word's weight must be a positive number, got ${colourWeight}`);
  const written = (w: ColourWord) => (colourWeight === 1 ? w : `(${w}:${colourWeight})`);
  return concepts.flatMap((c) =>
    words
      .filter((w) => !c.seen.includes(w))
      .map((w) => ({
        prompt: c.template.replace('{c}', written(w)),
        baseline: c.template.replace('{c} ', ''),
        colour: w,
        kind: c.heldOut?.includes(w) ? ('held-out concept' as const) : ('unseen pair' as const),
      })),
  );
}

/** One picture's hue read against the colour word it was asked for. */
export interface HueReading {
  hue: number | null;
  /** The nearest colour word (null without a hue). */
  nearest: ColourWord | null;
  correct: boolean;
  /** Degrees from the asked-for word's reference hue (null without a hue). */
  error: number | null;
}

export function readHue(hue: number | null, want: ColourWord): HueReading {
  if (hue === null) return { hue, nearest: null, correct: false, error: null };
  const nearest = nearestColour(hue).word;
  return { hue, nearest, correct: nearest === want, error: hueDistance(hue, REFERENCE_HUES[want]) };
}

export interface ColourScore {
  pictures: number;
  /** Share whose nearest colour word is the one asked for (a picture without a hue counts as wrong). */
  accuracy: number;
  /** Mean degrees from the asked-for word's reference hue, over pictures with a hue (null if none). */
  meanHueError: number | null;
  /** Pictures with no saturated pixels. */
  noHue: number;
}

export function scoreReadings(readings: readonly HueReading[]): ColourScore {
  const withHue = readings.filter((r) => r.error !== null);
  return {
    pictures: readings.length,
    accuracy: readings.length ? readings.filter((r) => r.correct).length / readings.length : 0,
    meanHueError: withHue.length ? withHue.reduce((s, r) => s + r.error!, 0) / withHue.length : null,
    noHue: readings.length - withHue.length,
  };
}

export interface ColourRow {
  /** A colour word, a prompt kind, or 'all'. */
  group: string;
  withWord: ColourScore;
  /** The same pictures' prompts without the colour word, read against the same word. */
  withoutWord: ColourScore;
}

export interface ColourResult {
  prompts: number;
  seeds: number[];
  rows: ColourRow[];
  /** Per prompt: its hue readings with and without the word, one per seed. */
  details: { prompt: string; colour: ColourWord; kind: ColourPrompt['kind']; withWord: HueReading[]; withoutWord: HueReading[] }[];
}

/** Rows per colour word, per prompt kind and over all prompts. */
export function colourRows(details: ColourResult['details']): ColourRow[] {
  const row = (group: string, ds: ColourResult['details']): ColourRow => ({
    group,
    withWord: scoreReadings(ds.flatMap((d) => d.withWord)),
    withoutWord: scoreReadings(ds.flatMap((d) => d.withoutWord)),
  });
  const rows = COLOUR_WORDS.filter((w) => details.some((d) => d.colour === w)).map((w) => row(w, details.filter((d) => d.colour === w)));
  for (const kind of ['held-out concept', 'unseen pair'] as const) {
    const ds = details.filter((d) => d.kind === kind);
    if (ds.length) rows.push(row(kind, ds));
  }
  rows.push(row('all', details));
  return rows;
}

/** The card's settings: seeds 1–4 per prompt, DDIM 25 steps, CFG 3. */
export const COLOUR_DEFAULTS = { seeds: [1, 2, 3, 4], steps: 25, guidance: 3, sampler: 'ddim' } as const;

export interface ColourOptions {
  /** Default: colourPrompts() with colourWeight. */
  prompts?: readonly ColourPrompt[];
  /** Emphasis of the colour word in the default prompts, "(red:W)" (default 1: the plain word). */
  colourWeight?: number;
  /** The first seed; prompt pictures use seed … seed + seeds − 1 (default 1). */
  seed?: number;
  /** Pictures per prompt (default 4). */
  seeds?: number;
  steps?: number;
  guidance?: number;
  sampler?: string;
  signal?: AbortSignal;
  /** After each prompt (with or without its word) is drawn. */
  onPrompt?: (done: number, total: number) => void;
}

/**
 * Draws every prompt and its colour-free baseline for the same seeds through the studio's txt2img
 * pipeline and reads each picture's hue (see ColourResult).
 */
export async function measureColour(model: DiffusionModel, o: ColourOptions = {}): Promise<ColourResult> {
  const prompts = o.prompts ?? colourPrompts(COLOUR_CONCEPTS, COLOUR_WORDS, o.colourWeight);
  if (prompts.length === 0) throw new Error('measureColour: no prompts; pass colour prompts or leave prompts out for the default set');
  const seed = o.seed ?? COLOUR_DEFAULTS.seeds[0];
  const count = o.seeds ?? COLOUR_DEFAULTS.seeds.length;
  const baselines = [...new Set(prompts.map((p) => p.baseline))];
  const total = prompts.length + baselines.length;
  let done = 0;
  const hues = async (prompt: string): Promise<(number | null)[]> => {
    const made = await txt2img(model, {
      prompt,
      seed,
      batchCount: count,
      steps: o.steps ?? COLOUR_DEFAULTS.steps,
      guidance: o.guidance ?? COLOUR_DEFAULTS.guidance,
      sampler: o.sampler ?? COLOUR_DEFAULTS.sampler,
      previewEvery: 0,
      signal: o.signal,
    });
    o.onPrompt?.(++done, total);
    return made.map((m) => pictureHue(m.image).hue);
  };
  const baselineHues = new Map<string, (number | null)[]>();
  for (const b of baselines) baselineHues.set(b, await hues(b));
  const details: ColourResult['details'] = [];
  for (const p of prompts) {
    const withWord = (await hues(p.prompt)).map((h) => readHue(h, p.colour));
    const withoutWord = baselineHues.get(p.baseline)!.map((h) => readHue(h, p.colour));
    details.push({ prompt: p.prompt, colour: p.colour, kind: p.kind, withWord, withoutWord });
  }
  return { prompts: prompts.length, seeds: Array.from({ length: count }, (_, i) => seed + i), rows: colourRows(details), details };
}

/** The result as a table: one line per colour word, prompt kind and all. */
export function formatColourTable(r: ColourResult): string {
  const pct = (s: ColourScore) => `${(100 * s.accuracy).toFixed(1)}%`;
  const deg = (s: ColourScore) => (s.meanHueError === null ? '—' : `${s.meanHueError.toFixed(1)}°`);
  const head = ['group', 'pictures', 'accuracy', 'hue error', 'no word: accuracy', 'no word: hue error'];
  const lines = r.rows.map((row) => [row.group, String(row.withWord.pictures), pct(row.withWord), deg(row.withWord), pct(row.withoutWord), deg(row.withoutWord)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), ...lines.map(fmt)].join('\n') + '\n';
}
