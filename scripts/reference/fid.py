"""Independent reference for electron/engine/eval/metrics.ts (numpy only, float64).

FID as pytorch-fid / clean-fid compute it: |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrtm(S1 S2), covariances
by np.cov (n - 1). scipy is not installed here, so Tr sqrtm(S1 S2) is the sum of the square roots of the
eigenvalues of the (non-symmetric) product S1 S2, from LAPACK's general eigensolver (np.linalg.eigvals):
a different route from metrics.ts, which takes the symmetric Tr sqrt(sqrt(S1) S2 sqrt(S1)) by Jacobi.

KID as clean-fid's kernel_distance (polynomial kernel (x.y/d + 1)^3, unbiased MMD^2 per subset, averaged),
with subsets of the whole sets (n1 = n2 = subset size) so no random choice is involved.

Precision/recall as Kynkaanniemi et al. 2019 (k-NN radii, k = 3, self excluded).

Writes test/fixtures/eval/metrics.json: the feature sets (rounded to 6 decimals, then used as given) and
the expected values.
Run: /usr/bin/python3 scripts/reference/fid.py
"""
import json
import os

import numpy as np


def fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ev = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(ev.real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def kid_whole(x, y):
    """clean-fid's kernel_distance with one subset that is all of both sets (n1 == n2 == m)."""
    assert x.shape == y.shape
    n = x.shape[1]
    m = x.shape[0]
    a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
    b = (x @ y.T / n + 1) ** 3
    t = (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / m)


def coverage(manifold, probe, k=3):
    d_mm = ((manifold[:, None, :] - manifold[None, :, :]) ** 2).sum(-1)
    radii = np.sort(d_mm, axis=1)[:, k]
    d_pm = ((probe[:, None, :] - manifold[None, :, :]) ** 2).sum(-1)
    return float((d_pm <= radii[None, :]).any(axis=1).mean())


def main():
    rng = np.random.default_rng(1414)
    d = 16
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = rng.normal(size=(60, d)) @ mix
    b = (rng.normal(size=(60, d)) * 1.3 + 0.4) @ mix + 0.2 * rng.normal(size=(60, d))
    c = rng.normal(size=(40, d)) @ mix + 0.1
    a, b, c = (np.round(v, 6) for v in (a, b, c))
    cases = [
        {'name': 'a-b', 'x': 'a', 'y': 'b', 'fid': fid(a, b), 'kid': kid_whole(a, b),
         'precision': coverage(a, b), 'recall': coverage(b, a)},
        {'name': 'a-c (unequal sizes)', 'x': 'a', 'y': 'c', 'fid': fid(a, c),
         'precision': coverage(a, c), 'recall': coverage(c, a)},
        {'name': 'a[:10]-b[:12] (fewer vectors than features)', 'x': 'a10', 'y': 'b12', 'fid': fid(a[:10], b[:12])},
        {'name': 'a-a', 'x': 'a', 'y': 'a', 'fid': fid(a, a), 'kid': kid_whole(a, a)},
    ]
    sets = {'a': a, 'b': b, 'c': c, 'a10': a[:10], 'b12': b[:12]}
    out = {'d': d, 'sets': {k: v.ravel().tolist() for k, v in sets.items()}, 'cases': cases}
    path = os.path.join(os.path.dirname(__file__), '../../test/fixtures/eval/metrics.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f)
    for cs in cases:
        print(cs)


if __name__ == '__main__':
    main()
