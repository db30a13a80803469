#!/usr/bin/env python3
"""Reference values for electron/engine/text (A1111 prompt syntax, chunks, emphasis, extra-network tags).

An independent re-implementation of the documented behaviour of AUTOMATIC1111's
modules/prompt_parser.py parse_prompt_attention (checked here against the examples of its docstring),
sd_hijack_clip.py tokenize_line (75-token chunks, comma padding backtrack of 20, BREAK, textual-inversion
placeholders), sd_emphasis.py "Original" emphasis (z *= w; z *= mean_before / mean_after) and
extra_networks.py tag extraction. The attention parser here is a hand-written character scanner, not
A1111's regular expression; tokens come from scripts/reference/clip_tokenizer.py.

Deliberate differences from A1111 shared with the TypeScript code: a weight that is not a number, such
as "(a:1.2.3)", is text (A1111 raises); weights take ASCII digits only; a comma backtrack moves
textual-inversion placeholders together with their positions.

Writes test/fixtures/tokenizers/prompt-attention.json, prompt-chunks.json, prompt-emphasis.json and
prompt-tags.json. Run: python3 scripts/reference/prompt_parser.py  (pyenv python: numpy + regex)
"""
import json
import math
import pathlib
import re
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import clip_tokenizer  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / 'test' / 'fixtures' / 'tokenizers'
START, END, COMMA = 49406, 49407, 267

BREAK_RE = re.compile(r'\s*(?<!\w)BREAK(?!\w)\s*')  # BREAK as a whole word (\w: letters, numbers, _)
WEIGHT_RE = re.compile(r':([+-]?[.0-9]+)\)')


def parse_attention(s):
    out = []  # [text, weight]
    opened = {'(': [], '[': []}

    def scale(start, by):
        for item in out[start:]:
            item[1] *= by

    def text(t):
        for k, part in enumerate(BREAK_RE.split(t)):
            if k:
                out.append(['BREAK', -1.0])
            out.append([part, 1.0])

    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == '\\':
            if i + 1 < n and s[i + 1] in '()[]\\':
                out.append([s[i + 1], 1.0])
                i += 2
            else:
                out.append(['', 1.0])
                i += 1
        elif c in '([':
            opened[c].append(len(out))
            i += 1
        elif c == ':':
            m = WEIGHT_RE.match(s, i)
            if m:
                try:
                    w = float(m.group(1))
                except ValueError:
                    w = None
                if w is not None and opened['(']:
                    scale(opened['('].pop(), w)
                else:
                    text(m.group(0))
                i = m.end()
            else:
                text(':')
                i += 1
        elif c == ')' or c == ']':
            stack = opened['(' if c == ')' else '[']
            if stack:
                scale(stack.pop(), 1.1 if c == ')' else 1 / 1.1)
            else:
                text(c)
            i += 1
        else:
            j = i
            while j < n and s[j] not in '\\()[]:':
                j += 1
            text(s[i:j])
            i = j
    for pos in opened['(']:
        scale(pos, 1.1)
    for pos in opened['[']:
        scale(pos, 1 / 1.1)
    if not out:
        out = [['', 1.0]]
    merged = [out[0]]
    for item in out[1:]:
        if item[1] == merged[-1][1]:
            merged[-1][0] += item[0]
        else:
            merged.append(item)
    return merged


def chunk(prompt, embeddings=None, backtrack=20, pad=END):
    """Returns (chunks, token_count); a chunk is (ids[77], weights[77], [(name, position, vectors)])."""
    names = sorted(((clip_tokenizer.encode(name), name, v) for name, v in (embeddings or {}).items()), key=lambda e: -len(e[0]))
    done, count = [], 0
    cur = {'ids': [], 'w': [], 'emb': []}
    comma = [-1]

    def close(last=False):
        nonlocal cur, count
        count += len(cur['ids']) if last else 75
        fill = 75 - len(cur['ids'])
        ids = [START] + cur['ids'] + [END] * fill + [END]
        ws = [1.0] + cur['w'] + [1.0] * fill + [1.0]
        if pad != END:
            first = ids.index(END)
            ids = ids[:first + 1] + [pad] * (76 - first)
        done.append((ids, ws, [(nm, off + 1, v) for nm, off, v in cur['emb']]))
        cur = {'ids': [], 'w': [], 'emb': []}
        comma[0] = -1

    for text, weight in parse_attention(prompt):
        if text == 'BREAK' and weight == -1:
            close()
            continue
        toks = clip_tokenizer.encode(text)
        p = 0
        while p < len(toks):
            t = toks[p]
            full = len(cur['ids']) == 75
            if t == COMMA:
                comma[0] = len(cur['ids'])
            elif backtrack and full and comma[0] != -1 and 75 - comma[0] <= backtrack:
                cut = comma[0] + 1
                moved = {'ids': cur['ids'][cut:], 'w': cur['w'][cut:], 'emb': [(nm, off - cut, v) for nm, off, v in cur['emb'] if off >= cut]}
                cur = {'ids': cur['ids'][:cut], 'w': cur['w'][:cut], 'emb': [e for e in cur['emb'] if e[1] < cut]}
                close()
                cur = moved
            if len(cur['ids']) == 75:
                close()
            hit = next(((ids, nm, v) for ids, nm, v in names if ids and toks[p:p + len(ids)] == ids), None)
            if hit is None:
                cur['ids'].append(t)
                cur['w'].append(weight)
                p += 1
                continue
            ids, nm, v = hit
            if len(cur['ids']) + v > 75:
                close()
            cur['emb'].append((nm, len(cur['ids']), v))
            cur['ids'] += [0] * v
            cur['w'] += [weight] * v
            p += len(ids)
    if cur['ids'] or not done:
        close(last=True)
    return done, count


def emphasis(z, weights):
    """z [chunks, 77, D] float32, weights [chunks, 77]: A1111's Original emphasis, chunk by chunk."""
    out = np.empty_like(z)
    for c in range(z.shape[0]):
        before = np.float32(z[c].astype(np.float64).mean())
        scaled = (z[c] * weights[c].astype(np.float32)[:, None]).astype(np.float32)
        after = np.float32(scaled.astype(np.float64).mean())
        out[c] = (scaled.astype(np.float64) * (float(before) / float(after))).astype(np.float32)
    return out


TAG_RE = re.compile(r'<(\w+):([^>]+)>')


def tags(prompt):
    found = []

    def take(m):
        items = m.group(2).split(':')
        found.append({'kind': m.group(1), 'positional': [x for x in items if '=' not in x],
                      'named': dict(x.split('=', 1) for x in items if '=' in x)})
        return ''

    rest = TAG_RE.sub(take, prompt)
    loras = []
    for t in found:
        if t['kind'] != 'lora':
            continue
        pos, named = t['positional'], t['named']
        te = float(named.get('te', pos[1] if len(pos) > 1 else 1.0))
        unet = float(named.get('unet', pos[2] if len(pos) > 2 else te))
        loras.append({'name': pos[0], 'te': te, 'unet': unet})
    return {'prompt': rest, 'tags': found, 'loras': loras}


DOCTESTS = [
    ('normal text', [['normal text', 1.0]]),
    ('an (important) word', [['an ', 1.0], ['important', 1.1], [' word', 1.0]]),
    ('(unbalanced', [['unbalanced', 1.1]]),
    ('\\(literal\\]', [['(literal]', 1.0]]),
    ('(unnecessary)(parens)', [['unnecessaryparens', 1.1]]),
    ('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
     [['a ', 1.0], ['house', 1.5730000000000004], [' ', 1.1], ['on', 1.0], [' a ', 1.1], ['hill', 0.55],
      [', sun, ', 1.1], ['sky', 1.4641000000000006], ['.', 1.1]]),
]

ATTENTION_PROMPTS = [p for p, _ in DOCTESTS] + [
    '', '((word))', '(word:1.3)', '[word]', '[[word]]', '([word])', '(word:0)', '(word:-0.5)', '(word:+2)',
    '(word:.5)', '(word:1.)', 'a:1.2) b', 'x ) y ] z', '(a [b) c]', '((a) b', 'a \\\\ b \\ c \\x',
    '\\(not weighted\\)', '(a:1.2.3)', '(a:.)', 'a BREAK b', 'aBREAK b', 'a BREAKING b', 'a BREAK BREAK b',
    '(a BREAK b)', 'a\nBREAK\nb', 'a:b:c', '(a:b:1.5)', '((masterpiece:1.2), best quality:1.1)',
    '[cat:dog:0.5]', 'a (b:1.5)(c:1.5) d', 'ünïcödé (émphasis:1.25) 猫 [🐱]',
]


def words(n, prefix='w'):
    return ' '.join(f'{prefix}{i}' for i in range(n))


CHUNK_CASES = [
    {'prompt': 'a photo of a cat'},
    {'prompt': ''},
    {'prompt': 'a (red:1.2) cat, [blurry], ((sharp))'},
    {'prompt': 'first part BREAK second part'},
    {'prompt': 'BREAK'},
    {'prompt': 'cat ' * 75},
    {'prompt': 'cat ' * 76},
    {'prompt': 'cat ' * 150},
    {'prompt': 'cat ' * 70 + ', ' + 'dog ' * 20},
    {'prompt': 'cat ' * 50 + ', ' + 'dog ' * 40},
    {'prompt': 'cat ' * 70 + ', ' + 'dog ' * 20, 'backtrack': 0},
    {'prompt': ', '.join(f'thing{i} detail' for i in range(40))},
    {'prompt': 'masterpiece, (best quality:1.3), ' + ', '.join(f'(tag{i}:1.{i % 9})' for i in range(30)) + ', BREAK, [background]'},
    {'prompt': 'a photo of sks_style cat in mystyle', 'embeddings': {'mystyle': 3, 'sks_style': 2}},
    {'prompt': 'cat ' * 73 + 'mystyle dog', 'embeddings': {'mystyle': 4}},
    {'prompt': 'cat ' * 60 + ', ' + 'dog ' * 10 + 'mystyle ' + 'bird ' * 10, 'embeddings': {'mystyle': 2}},
    {'prompt': '(mystyle:1.5) cat', 'embeddings': {'mystyle': 2, 'mystyle extra': 5}},
    {'prompt': 'a photo of a cat, ' * 10, 'pad': 0},
    {'prompt': 'short BREAK ' + 'cat ' * 80, 'pad': 0},
]

TAG_PROMPTS = [
    'a cat <lora:ink:0.8>, sharp',
    '<lora:ink> <lora:paper:0.5:0.25> <lora:x:te=0.3:unet=0.7> <hypernet:h:1>',
    'no tags here <notatag> <lora:>',
    '<lora:name with spaces:1.2>cat',
]


def main():
    for prompt, expected in DOCTESTS:
        got = parse_attention(prompt)
        assert got == expected, (prompt, got, expected)
    attention = [{'prompt': p, 'parsed': parse_attention(p)} for p in ATTENTION_PROMPTS]

    chunks = []
    for case in CHUNK_CASES:
        done, count = chunk(case['prompt'], case.get('embeddings'), case.get('backtrack', 20), case.get('pad', END))
        chunks.append({**case, 'tokenCount': count, 'maxTokens': math.ceil(max(count, 1) / 75) * 75,
                       'chunks': [{'ids': ids, 'weights': ws, 'embeddings': [{'name': nm, 'position': pos, 'vectors': v} for nm, pos, v in emb]}
                                  for ids, ws, emb in done]})

    rng = np.random.default_rng(11)
    z = (rng.standard_normal((2, 77, 4)) * 0.7 + 0.3).astype(np.float32)
    w = np.ones((2, 77), dtype=np.float32)
    w[0, 1:4] = [1.1, 1.21, 0.9090909]
    w[1, 5] = 1.5
    w[1, 6] = 0.5
    emph = {'shape': [2, 77, 4], 'hidden': z.flatten().tolist(), 'weights': w.tolist(), 'expected': emphasis(z, w).flatten().tolist()}

    tag_cases = [{'input': p, **tags(p)} for p in TAG_PROMPTS]

    def dump(name, rows):
        (OUT / name).write_text('[\n' + ',\n'.join(json.dumps(r, ensure_ascii=False) for r in rows) + '\n]\n', encoding='utf-8')

    dump('prompt-attention.json', attention)
    dump('prompt-chunks.json', chunks)
    dump('prompt-tags.json', tag_cases)
    (OUT / 'prompt-emphasis.json').write_text(json.dumps(emph) + '\n', encoding='utf-8')
    print(f'wrote {len(attention)} attention cases, {len(chunks)} chunk cases, {len(tag_cases)} tag cases, emphasis 2x77x4 to {OUT}')


if __name__ == '__main__':
    main()
