"""Writes resources/tokenizers/html-unescape.json: the tables Python's html.unescape uses.

CLIP's reference tokenizer runs html.unescape twice over every prompt. Our TypeScript port
(electron/engine/io/tokenizers/html-unescape.ts) needs the same tables: the HTML5 named character
references (the WHATWG HTML standard's list, which Python ships as html.entities.html5), the numeric
references HTML maps to other characters (Windows-1252 for 0x80-0x9F) and the code points that decode
to nothing. Run with any Python 3 (3.11 here): python3 scripts/reference/clip_tokenizer_entities.py
"""
import html
import html.entities
import json
import pathlib
import sys

out = pathlib.Path(__file__).resolve().parents[2] / 'resources' / 'tokenizers' / 'html-unescape.json'
tables = {
    'source': 'HTML standard (WHATWG) named character references, as Python %d.%d html.entities.html5 and html._invalid_charrefs / _invalid_codepoints' % sys.version_info[:2],
    'named': html.entities.html5,
    'invalidCharrefs': {str(k): v for k, v in sorted(html._invalid_charrefs.items())},
    'invalidCodepoints': sorted(html._invalid_codepoints),
}
out.write_text(json.dumps(tables, ensure_ascii=False, separators=(',', ':')) + '\n', encoding='utf-8')
print(f'wrote {out} ({len(tables["named"])} names)')
