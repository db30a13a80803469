#!/usr/bin/env python3
"""Reference for electron/engine/io/metadata/infotext-scan.ts: what AUTOMATIC1111's regex finds.

`python3 scripts/reference/infotext_pairs.py` writes test/fixtures/metadata/infotext-pairs.json: random
lines built from the characters that matter to the pattern (spaces, commas, colons, quotes, backslashes,
key characters, non-ASCII letters and digits, other white space), each with the (key, value) pairs that
Python's re.findall returns for A1111's re_param (modules/infotext_utils.py). Python's own regex engine
is the independent reference; the TypeScript scanner shares nothing with it.
"""
import json
import os
import random
import re

RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'metadata', 'infotext-pairs.json')

PIECES = [' ', '  ', ',', ', ', ':', ': ', '"', '\\', '\\"', '-', '/', '_', 'a', 'Steps', 'Size', '512x512', '7',
          'é', 'Ünï', '日本', '٣', '\t', '\u3000', '\xa0', '(x:1.2)', '[', ']', 'Model hash', 'Sampler: Euler a',
          '"a, b: c"', '\r', '.', '😀', '_x_']


def main():
    rng = random.Random(12)
    lines = ['Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b',
             'Lora hashes: "add_detail: 7c6bad76eb54, more_art: 0a8b3a1b2c3d", Version: v1.10.1, TI hashes: "x: 1"',
             'k: "unterminated, Steps: 3, Seed: 4', 'a: "x" y, b: 2, c: 3', 'a:"",b:"\\"",c: "\\\\"']
    for _ in range(600):
        lines.append(''.join(rng.choice(PIECES) for _ in range(rng.randint(1, 24))))
    cases = [{'line': s, 'pairs': [[k, v] for k, v in RE_PARAM.findall(s)]} for s in lines]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
        f.write('\n')
    print(f'{len(cases)} lines, {sum(len(c["pairs"]) for c in cases)} pairs -> {OUT}')


if __name__ == '__main__':
    main()
