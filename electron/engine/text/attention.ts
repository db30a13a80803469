// AUTOMATIC1111's emphasis syntax (modules/prompt_parser.py, parse_prompt_attention), with its exact
// behaviour on odd input:
//   (text)        weight × 1.1          ((text)) × 1.21, and so on
//   (text:1.3)    weight × 1.3          (the number: optional sign, digits and dots)
//   [text]        weight ÷ 1.1 (× 1/1.1)
//   \( \) \[ \] \\   the literal character; a lone \ is dropped
//   BREAK         (upper case, a whole word) ends the current 75-token chunk
// An unmatched ')' or ']' is kept as text; brackets still open at the end apply to everything after them
// (innermost first); ':' outside a weight is text. Neighbouring pieces with equal weights are joined.
// A BREAK inside brackets gets its weight multiplied too and, as in A1111, is then plain text.
//
// One difference: A1111 stops with a Python error on a weight such as "(a:1.2.3)" or "(a:.)"; here such
// a weight is kept as text.

export interface WeightedText {
  text: string;
  /** Multiplier for the tokens of this text; -1 (exactly) marks a BREAK. */
  weight: number;
}

export const BREAK_WEIGHT = -1;

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

// The alternatives of A1111's re_attention, in its order.
const ATTENTION = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:([+-]?[.0-9]+)\)|\)|\]|[^\\()[\]:]+|:/gu;
// Python's re: \s is str.isspace, \b is a Unicode word boundary (word = letters, numbers, '_').
const SPACE = '[\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const BREAK_SPLIT = new RegExp(`${SPACE}*(?<![\\p{L}\\p{N}_])BREAK(?![\\p{L}\\p{N}_])${SPACE}*`, 'u');

/** Splits a prompt into texts and their weights, as A1111's parse_prompt_attention. */
export function parsePromptAttention(prompt: string): WeightedText[] {
  const res: WeightedText[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, by: number): void => {
    for (let p = start; p < res.length; p++) res[p]!.weight *= by;
  };

  for (const m of prompt.matchAll(ATTENTION)) {
    const text = m[0];
    const weight = m[1] === undefined ? null : parseWeight(m[1]);
    if (text.startsWith('\\')) res.push({ text: text.slice(1), weight: 1 });
    else if (text === '(') round.push(res.length);
    else if (text === '[') square.push(res.length);
    else if (weight !== null && round.length > 0) multiplyFrom(round.pop()!, weight);
    else if (text === ')' && round.length > 0) multiplyFrom(round.pop()!, ROUND);
    else if (text === ']' && square.length > 0) multiplyFrom(square.pop()!, SQUARE);
    else {
      text.split(BREAK_SPLIT).forEach((part, i) => {
        if (i > 0) res.push({ text: 'BREAK', weight: BREAK_WEIGHT });
        res.push({ text: part, weight: 1 });
      });
    }
  }
  // Python iterates the open-bracket lists first to last.
  for (const pos of round) multiplyFrom(pos, ROUND);
  for (const pos of square) multiplyFrom(pos, SQUARE);

  if (res.length === 0) res.push({ text: '', weight: 1 });
  for (let i = 0; i + 1 < res.length; ) {
    if (res[i]!.weight === res[i + 1]!.weight) {
      res[i]!.text += res[i + 1]!.text;
      res.splice(i + 1, 1);
    } else i++;
  }
  return res;
}

function parseWeight(s: string): number | null {
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(s) ? Number(s) : null;
}

export function isBreak(w: WeightedText): boolean {
  return w.text === 'BREAK' && w.weight === BREAK_WEIGHT;
}
