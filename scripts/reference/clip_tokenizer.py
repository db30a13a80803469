#!/usr/bin/env python3
"""Reference ids for electron/engine/io/tokenizers/clip.ts.

An independent Python implementation of the algorithm of openai/CLIP's clip/simple_tokenizer.py
(SimpleTokenizer.encode), written from its documented steps, sharing no code with the TypeScript port:
  clean-up   html.unescape twice, strip, every run of white space -> one space, strip, lower-case
             (the reference runs ftfy.fix_text first; Debian ships no ftfy, so neither side does)
  split      regex (the `regex` module, as the reference):
             <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
  bytes      each piece's UTF-8 bytes through GPT-2's bytes_to_unicode table
  BPE        last symbol gets '</w>'; repeatedly merge the lowest-ranked adjacent pair (all of its
             non-overlapping occurrences, left to right) until no ranked pair remains
  vocab      256 byte symbols (printable first), the same + '</w>', the first 48,894 merges joined,
             <|startoftext|> 49406, <|endoftext|> 49407

Writes test/fixtures/tokenizers/clip.json: [{text, ids}] (ids without start/end/padding).
Run: python3 scripts/reference/clip_tokenizer.py   (the pyenv python, which has `regex`)
"""
import gzip
import html
import json
import pathlib

import regex

ROOT = pathlib.Path(__file__).resolve().parents[2]
MERGES_FILE = ROOT / 'resources' / 'tokenizers' / 'clip' / 'bpe_simple_vocab_16e6.txt.gz'
OUT = ROOT / 'test' / 'fixtures' / 'tokenizers' / 'clip.json'


def byte_table():
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table = {b: chr(b) for b in keep}
    moved = [b for b in range(256) if b not in table]
    for n, b in enumerate(moved):
        table[b] = chr(256 + n)
    order = keep + moved  # vocabulary order
    return table, [table[b] for b in order]


BYTES, SYMBOLS = byte_table()
merge_lines = gzip.open(MERGES_FILE).read().decode('utf-8').split('\n')[1:48894 + 1]
MERGES = [tuple(line.split()) for line in merge_lines]
VOCAB = SYMBOLS + [s + '</w>' for s in SYMBOLS] + [a + b for a, b in MERGES] + ['<|startoftext|>', '<|endoftext|>']
IDS = {t: i for i, t in enumerate(VOCAB)}
RANK = {m: i for i, m in enumerate(MERGES)}
SPLIT = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


def clean(text):
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r'\s+', ' ', text).strip().lower()


def bpe(symbols):
    symbols = list(symbols[:-1]) + [symbols[-1] + '</w>']
    while len(symbols) > 1:
        ranked = [(RANK[p], p) for p in zip(symbols, symbols[1:]) if p in RANK]
        if not ranked:
            break
        a, b = min(ranked)[1]
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        symbols = out
    return symbols


def encode(text):
    ids = []
    for piece in SPLIT.findall(clean(text)):
        if piece in ('<|startoftext|>', '<|endoftext|>'):
            ids.append(IDS[piece])
            continue
        ids.extend(IDS[s] for s in bpe(''.join(BYTES[b] for b in piece.encode('utf-8'))))
    return ids


def main():
    TEXTS = [
        'a photo of a cat',
        'A Photo Of A CAT',
        '',
        '   ',
        '\t\n  a   photo\n\nof  a cat  ',
        'masterpiece, best quality, (extremely detailed:1.2), 8k, HDR',
        "it's a dog's life, don't you think? they're here, we've gone, I'm sure, you'll see, he'd go",
        "rock'n'roll 'quoted' ''double'' '' 'S 'T 'RE",
        'wow!!! what?!? ... ,,, ;;; --- ___ ***stars*** ((((deep)))) [[[x]]] {y} <z> |a|b|',
        '1234567890 3.14159 1,000,000 2024-01-01 x2 4k 16:9',
        'café naïve résumé crème brûlée Ångström Øre straße ÇA',
        'cafe\u0301 decomposed accent',
        '🐱 🐶🐶 😀😃😄 👩‍👩‍👧 🏳️‍🌈 ❤️ ✨ #1 ©®™',
        '一只猫坐在桌子上 猫 東京タワー 서울 Москва Αθήνα',
        'tom &amp; jerry &lt;3 &quot;quoted&quot; &#39;single&#39; &#x263A; &amp;amp; &copy2024 &notit; &bogus;',
        'no\u00a0break\u2003em\u3000ideographic\u0085nel\ufeffbom',
        '<|startoftext|>hello<|endoftext|> <|ENDOFTEXT|>',
        'https://example.com/path?q=1&x=2 user@example.com C:\\Users\\x',
        'ﬁne ＡＢＣ ｆｕｌｌ “curly” ‘quotes’ don’t',
        'supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
        'a' * 300,
        ('a beautiful landscape painting of mountains at sunset, golden hour, dramatic clouds, '
         'reflections in a calm lake, highly detailed, sharp focus, trending on artstation, '
         'by greg rutkowski and alphonse mucha, 8k resolution, unreal engine, octane render, '
         'volumetric lighting, cinematic composition, masterpiece, award winning photograph'),
        '\x00\x01control\x7fchars\u200bzero\u200dwidth',
    ]

    fixtures = [{'text': t, 'ids': encode(t)} for t in TEXTS]
    assert fixtures[0]['ids'] == [320, 1125, 539, 320, 2368], fixtures[0]['ids']
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text('[\n' + ',\n'.join(json.dumps(f, ensure_ascii=False) for f in fixtures) + '\n]\n', encoding='utf-8')
    print(f'wrote {OUT}: {len(fixtures)} texts, {sum(len(f["ids"]) for f in fixtures)} ids')


if __name__ == '__main__':
    main()
