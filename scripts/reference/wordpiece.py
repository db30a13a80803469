#!/usr/bin/env python3
"""Reference ids for electron/engine/io/tokenizers/wordpiece.ts (bert-base-uncased WordPiece).

An independent implementation (unicodedata only, no transformers: Debian does not ship it) of what
LDM's BERTTokenizer gets from transformers' BertTokenizerFast('bert-base-uncased'):
  clean      drop NUL, U+FFFD and characters of category C* (except \\t \\n \\r); white space -> ' '
             (the fast tokenizer's is_whitespace: \\t \\n \\r and Unicode White_Space)
  CJK        ' ' + ideograph + ' ' for the CJK Unified Ideograph blocks BERT lists
  uncased    lower(), NFD, drop category Mn
  split      on spaces; every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or P*) alone
  WordPiece  greedy longest match from the start, continuations '##'; no match or > 100 chars -> [UNK]
  frame      [CLS] + first 75 ids + [SEP] + [PAD] to 77

Writes test/fixtures/tokenizers/wordpiece.json: [{text, ids}] (ids without [CLS]/[SEP]/[PAD]).
Run: python3 scripts/reference/wordpiece.py
"""
import json
import pathlib
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCAB = (ROOT / 'resources' / 'tokenizers' / 'bert-base-uncased' / 'vocab.txt').read_text(encoding='utf-8').split('\n')[:-1]
IDS = {t: i for i, t in enumerate(VOCAB)}
OUT = ROOT / 'test' / 'fixtures' / 'tokenizers' / 'wordpiece.json'
WHITE_SPACE = set('\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000') | {chr(c) for c in range(0x2000, 0x200B)}
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith('P')


def words(text):
    out = []
    for c in text:
        if c in WHITE_SPACE:
            out.append(' ')
        elif ord(c) in (0, 0xFFFD) or unicodedata.category(c).startswith('C'):
            continue
        elif any(a <= ord(c) <= b for a, b in CJK):
            out.append(' ' + c + ' ')
        else:
            out.append(c)
    text = unicodedata.normalize('NFD', ''.join(out).lower())
    text = ''.join(c for c in text if unicodedata.category(c) != 'Mn')
    result = []
    for token in text.split(' '):
        current = ''
        for c in token:
            if is_punct(c):
                if current:
                    result.append(current)
                result.append(c)
                current = ''
            else:
                current += c
        if current:
            result.append(current)
    return result


def wordpiece(word):
    if len(word) > 100:
        return [IDS['[UNK]']]
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else '##' + word[start:end]
            if piece in IDS:
                ids.append(IDS[piece])
                break
            end -= 1
        else:
            return [IDS['[UNK]']]
        start = end
    return ids


def encode(text):
    return [i for w in words(text) for i in wordpiece(w)]


TEXTS = [
    'a photo of a cat',
    'i like strawberries',
    'Hello, World!',
    '',
    '  \t\n ',
    'A painting of a squirrel eating a burger',
    "it's a dog's life, don't you think? rock'n'roll",
    'wow!!! what?!? ... ,,, ((((deep)))) [x] {y} <z> |a| ~tilde~ `tick` $5 100% #hash @at',
    '1234567890 3.14159 1,000,000 2024-01-01 4k 16:9',
    'Café naïve résumé crème brûlée Ångström Øre straße ÇA',
    'cafe\u0301 decomposed accent',
    '🐱 🐶 emoji ❤️ ✨ ©®™',
    '一只猫坐在桌子上 東京タワー 서울 Москва Αθήνα',
    'no\u00a0break\u2003em\u3000ideographic\u0085nel\u2028line\x00nul\x07bell\u200bzw\ufffdrepl',
    'unaffable unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious',
    'x' * 120,
    'the ' * 80,
    '«guillemets» „quotes“ — dash – en ‐ hyphen ¿qué? ¡sí! 、。',
]

fixtures = [{'text': t, 'ids': encode(t)} for t in TEXTS]
assert fixtures[0]['ids'] == [1037, 6302, 1997, 1037, 4937]
assert fixtures[1]['ids'] == [1045, 2066, 13137, 20968]
OUT.write_text('[\n' + ',\n'.join(json.dumps(f, ensure_ascii=False) for f in fixtures) + '\n]\n', encoding='utf-8')
print(f'wrote {OUT}: {len(fixtures)} texts')
