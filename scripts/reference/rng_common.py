"""Helpers shared by the rng_*.py reference scripts: which elements a fixture keeps, and how."""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'rng')


def sample_indices(n, spread=200):
    """The first 32, the last 16 and about `spread` evenly spaced elements of n."""
    idx = set(range(min(n, 32))) | set(range(max(0, n - 16), n))
    if n > 48:
        idx |= set(np.linspace(0, n - 1, spread).round().astype(np.int64).tolist())
    return sorted(idx)


def summary(values, spread=200):
    """Kept elements plus float64 checksums of the whole float32 tensor."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    idx = sample_indices(flat.size, spread)
    return {
        'n': int(flat.size),
        'idx': idx,
        'values': [float(flat[i]) for i in idx],
        'sum': float(flat.astype(np.float64).sum()),
        'sumsq': float((flat.astype(np.float64) ** 2).sum()),
    }


def write(name, data, about):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, 'w') as f:
        json.dump({'about': about, **data}, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', os.path.normpath(path), os.path.getsize(path), 'bytes')
