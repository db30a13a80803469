// The `key: value` pairs of an AUTOMATIC1111 infotext line, found in linear time.
//
// A1111 (modules/infotext_utils.py) runs `re.findall` with
//   \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
// over the last line. Its matches are unique, so the same result can be computed without backtracking:
// at a start position the key is the whole run of key characters after the leading white space
// (it must be 2+ long, begin with a word character and be followed by ':'); the value is a quoted
// string when one closes there and is followed by ',' or the end, otherwise everything up to the next
// comma. A failed attempt leaves findall moving on one character; every start inside the same space
// run or key run fails the same way, so we jump past it. Each table below is built once, right to left.

/** Python's `\w` for str patterns: letters, numbers, underscore. */
const WORD = /[\p{L}\p{N}_]/u;
/** Python's `\s` for str patterns (str.isspace). */
const SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

export interface InfotextPair {
  /** As written, trailing spaces included (A1111 keeps them; callers trim). */
  readonly key: string;
  /** As written: a quoted value keeps its quotes. */
  readonly value: string;
}

export function scanInfotextPairs(line: string): InfotextPair[] {
  const cs = Array.from(line); // code points, as Python indexes a str
  const n = cs.length;
  const isWord = new Uint8Array(n);
  const isKey = new Uint8Array(n);
  const isSpace = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = cs[i]!;
    isWord[i] = WORD.test(c) ? 1 : 0;
    isKey[i] = isWord[i] || c === ' ' || c === '-' || c === '/' ? 1 : 0;
    isSpace[i] = SPACE.test(c) ? 1 : 0;
  }
  // spaceEnd[i]: first non-space at or after i; keyEnd[i]: end of the key-character run from i;
  // commaAt[i]: first ',' at or after i (n if none); quoteEnd[i]: index of the closing '"' when a quoted
  // body is read from i (a backslash escapes the next character), -1 when it never closes.
  const spaceEnd = new Int32Array(n + 2);
  const keyEnd = new Int32Array(n + 2);
  const commaAt = new Int32Array(n + 2);
  const quoteEnd = new Int32Array(n + 2);
  spaceEnd[n] = spaceEnd[n + 1] = n;
  keyEnd[n] = keyEnd[n + 1] = n;
  commaAt[n] = commaAt[n + 1] = n;
  quoteEnd[n] = quoteEnd[n + 1] = -1;
  for (let i = n - 1; i >= 0; i--) {
    spaceEnd[i] = isSpace[i] ? spaceEnd[i + 1]! : i;
    keyEnd[i] = isKey[i] ? keyEnd[i + 1]! : i;
    commaAt[i] = cs[i] === ',' ? i : commaAt[i + 1]!;
    const c = cs[i]!;
    if (c === '"') quoteEnd[i] = i;
    else if (c === '\\') quoteEnd[i] = i + 1 < n && cs[i + 1] !== '\n' ? quoteEnd[i + 2]! : -1;
    else quoteEnd[i] = quoteEnd[i + 1]!;
  }

  const out: InfotextPair[] = [];
  let p = 0;
  while (p < n) {
    const k = spaceEnd[p]!;
    if (k >= n) break;
    if (!isWord[k]) {
      p = k + 1; // every start from p reaches k: none can match before k + 1
      continue;
    }
    const r = keyEnd[k]!;
    if (r >= n || cs[r] !== ':' || r - k < 2) {
      // Every start from p up to r reaches the same run end, with this key or a shorter one: all fail.
      p = Math.max(p + 1, r);
      continue;
    }
    const v = spaceEnd[r + 1]!;
    let end: number;
    let value: string;
    const close = v < n && cs[v] === '"' ? quoteEnd[v + 1]! : -1;
    if (close > v + 1 && (close + 1 === n || cs[close + 1] === ',')) {
      value = cs.slice(v, close + 1).join('');
      end = close + 1 < n ? close + 2 : n;
    } else {
      const c = commaAt[v]!;
      value = cs.slice(v, c).join('');
      end = c < n ? c + 1 : n;
    }
    out.push({ key: cs.slice(k, r).join(''), value });
    p = end;
  }
  return out;
}
