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
  // Works on UTF-16 code units; a surrogate pair gets the class of the code point it encodes.
  const n = line.length;
  const isWord = new Uint8Array(n);
  const isKey = new Uint8Array(n);
  const isSpace = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const u = line.charCodeAt(i);
    if (u < 128) {
      const w = (u >= 48 && u <= 57) || (u >= 65 && u <= 90) || (u >= 97 && u <= 122) || u === 95;
      isWord[i] = w ? 1 : 0;
      isKey[i] = w || u === 32 || u === 45 || u === 47 ? 1 : 0;
      isSpace[i] = u === 32 || (u >= 9 && u <= 13) || (u >= 0x1c && u <= 0x1f) ? 1 : 0;
      continue;
    }
    const pair = u >= 0xd800 && u <= 0xdbff && i + 1 < n && (line.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const c = pair ? line.slice(i, i + 2) : line[i]!;
    const w = WORD.test(c) ? 1 : 0;
    isWord[i] = isKey[i] = w;
    isSpace[i] = !pair && SPACE.test(c) ? 1 : 0;
    if (pair) {
      i++;
      isWord[i] = isKey[i] = w;
    }
  }
  // spaceEnd[i]: first non-space at or after i; keyEnd[i]: end of the key-character run from i;
  // commaAt[i]: first ',' at or after i (n if none); quoteEnd[i]: index of the closing '"' when a quoted
  // body is read from i (a backslash escapes the next character), -1 when it never closes.
  const spaceEnd = new Int32Array(n + 3);
  const keyEnd = new Int32Array(n + 3);
  const commaAt = new Int32Array(n + 3);
  const quoteEnd = new Int32Array(n + 3);
  for (let i = n; i < n + 3; i++) {
    spaceEnd[i] = keyEnd[i] = commaAt[i] = n;
    quoteEnd[i] = -1;
  }
  for (let i = n - 1; i >= 0; i--) {
    spaceEnd[i] = isSpace[i] ? spaceEnd[i + 1]! : i;
    keyEnd[i] = isKey[i] ? keyEnd[i + 1]! : i;
    const u = line.charCodeAt(i);
    commaAt[i] = u === 44 ? i : commaAt[i + 1]!;
    if (u === 34) quoteEnd[i] = i;
    else if (u === 92) {
      // `\\.`: the backslash and the next code point (not a newline)
      const next = i + 1 < n ? line.charCodeAt(i + 1) : -1;
      const width = next >= 0xd800 && next <= 0xdbff && i + 2 < n && (line.charCodeAt(i + 2) & 0xfc00) === 0xdc00 ? 2 : 1;
      quoteEnd[i] = next >= 0 && next !== 10 ? quoteEnd[i + 1 + width]! : -1;
    } else quoteEnd[i] = quoteEnd[i + 1]!;
  }
  const cs = line;

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
    const first = (line.charCodeAt(k) & 0xfc00) === 0xd800 ? 2 : 1; // the key needs a second code point
    if (r >= n || cs[r] !== ':' || r - k <= first) {
      // Every start from p up to r reaches the same run end, with this key or a shorter one: all fail.
      p = Math.max(p + 1, r);
      continue;
    }
    const v = spaceEnd[r + 1]!;
    let end: number;
    let value: string;
    const close = v < n && cs[v] === '"' ? quoteEnd[v + 1]! : -1;
    if (close > v + 1 && (close + 1 === n || cs[close + 1] === ',')) {
      value = cs.slice(v, close + 1);
      end = close + 1 < n ? close + 2 : n;
    } else {
      const c = commaAt[v]!;
      value = cs.slice(v, c);
      end = c < n ? c + 1 : n;
    }
    out.push({ key: cs.slice(k, r), value });
    p = end;
  }
  return out;
}
