#!/usr/bin/env python3
"""Reference values for electron/engine/io/buckets.ts (aspect-ratio buckets as kohya-ss/sd-scripts makes them).

Re-implements, in plain Python with numpy, the documented behaviour of kohya's library/model_util.py
make_bucket_resolutions (area ≤ resolution², sides in steps of `divisible` from min to max size, plus the
square) and library/train_util.py BucketManager.select_bucket (nearest aspect ratio by numpy argmin and
cover-resize with int(x + 0.5); or, with bucket_no_upscale, scale down to the area and floor to the
steps), the centre crop (trim // 2) and the run metadata ss_bucket_info (json.dumps of {"buckets":
{i: {"resolution": (w, h), "count": n}}, "mean_img_ar_error": mean |error|}) and ss_bucket_no_upscale
(str(bool)). Python's own int/round, float repr and json.dumps are what the TypeScript must match.

Writes test/fixtures/finetune/buckets.json. Run: python3 scripts/reference/buckets.py
"""
import json
import math
import pathlib

import numpy as np


def make_bucket_resolutions(max_reso, min_size, max_size, divisible):
    max_area = max_reso[0] * max_reso[1]
    resos = set()
    width = int(math.sqrt(max_area) // divisible) * divisible
    resos.add((width, width))
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


def select_bucket(w, h, no_upscale, max_reso, predefined, steps):
    ar = w / h
    if not no_upscale:
        reso = (w, h)
        if reso not in set(predefined):
            errors = np.array([a / b for a, b in predefined]) - ar
            reso = predefined[int(np.abs(errors).argmin())]
        scale = reso[1] / h if ar > reso[0] / reso[1] else reso[0] / w
        resized = (int(w * scale + 0.5), int(h * scale + 0.5))
    else:
        max_area = max_reso[0] * max_reso[1]

        def rnd(x):
            x = int(x + 0.5)
            return x - x % steps

        if w * h > max_area:
            rw = math.sqrt(max_area * ar)
            rh = max_area / rw
            bw = rnd(rw)
            ar_w = bw / rnd(bw / ar)
            bh = rnd(rh)
            ar_h = rnd(bh * ar) / bh
            resized = (bw, int(bw / ar + 0.5)) if abs(ar_w - ar) < abs(ar_h - ar) else (int(bh * ar + 0.5), bh)
        else:
            resized = (w, h)
        reso = (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)
    return reso, resized, reso[0] / reso[1] - ar


SIZES = [(512, 512), (640, 480), (480, 640), (1024, 768), (3000, 2000), (2000, 3000), (900, 300), (300, 900),
         (4032, 3024), (1920, 1080), (1080, 1920), (700, 700), (256, 1024), (5000, 1000), (513, 511), (200, 130)]

cases = []
for resolution, mn, mx, steps in [(512, 256, 1024, 64), (768, 256, 1024, 64), (256, 128, 512, 64), (512, 320, 768, 32)]:
    predefined = make_bucket_resolutions((resolution, resolution), mn, mx, steps)
    for no_upscale in (False, True):
        picks = []
        for w, h in SIZES:
            reso, resized, err = select_bucket(w, h, no_upscale, (resolution, resolution), predefined, steps)
            crop = ((resized[0] - reso[0]) // 2, (resized[1] - reso[1]) // 2)
            picks.append({"size": [w, h], "bucket": list(reso), "resized": list(resized), "crop": list(crop), "arError": err})
        used = sorted({tuple(p["bucket"]) for p in picks})
        info = {"buckets": {}}
        for i, reso in enumerate(used):
            info["buckets"][i] = {"resolution": reso, "count": sum(1 for p in picks if tuple(p["bucket"]) == reso)}
        info["mean_img_ar_error"] = float(np.mean(np.abs(np.array([p["arError"] for p in picks]))))
        cases.append({
            "resolution": resolution, "minSize": mn, "maxSize": mx, "steps": steps, "noUpscale": no_upscale,
            "predefined": [list(r) for r in predefined] if not no_upscale else [],
            "picks": picks,
            "ss_bucket_info": json.dumps(info),
            "ss_bucket_no_upscale": str(bool(no_upscale)),
        })

out = pathlib.Path(__file__).resolve().parents[2] / "test" / "fixtures" / "finetune" / "buckets.json"
out.write_text(json.dumps(cases, indent=1) + "\n")
print(f"wrote {out} ({len(cases)} cases)")
