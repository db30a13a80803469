"""Independent reference for scripts/embedded/sr-data.ts's image measures (numpy only).

SSIM as scikit-image's structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=0) computes it (Wang et al. 2004): Gaussian
window of radius int(3.5 * sigma + 0.5) = 5, K1 = 0.01, K2 = 0.03, the map averaged over the interior
(scikit-image crops (win_size - 1) // 2 pixels from each side after filtering), then over channels.
PSNR: 10 log10(1 / MSE) on [0, 1].

Writes test/fixtures/sr/measures.json for pictures the test rebuilds from the same formulas.
Run: /usr/bin/python3 scripts/reference/ssim.py
"""
import json
import os

import numpy as np

SIZE = 24


def pictures():
    c, y, x = np.meshgrid(np.arange(3), np.arange(SIZE), np.arange(SIZE), indexing='ij')
    a = (x * 7 + y * 13 + c * 50) % 256
    noise = (x * y * 31 + c * 17) % 41 - 20
    b = np.clip(a + noise, 0, 255)
    flat = np.full_like(a, 200)
    return a.astype(np.uint8), b.astype(np.uint8), flat.astype(np.uint8)


def gaussian_filter_valid(p, sigma=1.5, truncate=3.5):
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    w2 = np.outer(k, k)
    n = 2 * r + 1
    h, w = p.shape
    out = np.zeros((h - n + 1, w - n + 1))
    for i in range(n):
        for j in range(n):
            out += w2[i, j] * p[i:i + h - n + 1, j:j + w - n + 1]
    return out


def ssim(a, b):
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for ch in range(a.shape[0]):
        x = a[ch].astype(np.float64) / 255
        y = b[ch].astype(np.float64) / 255
        ux, uy = gaussian_filter_valid(x), gaussian_filter_valid(y)
        vx = gaussian_filter_valid(x * x) - ux * ux
        vy = gaussian_filter_valid(y * y) - uy * uy
        vxy = gaussian_filter_valid(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
        vals.append(s.mean())
    return float(np.mean(vals))


def psnr(a, b):
    m = np.mean(((a.astype(np.float64) - b.astype(np.float64)) / 255) ** 2)
    return float(10 * np.log10(1 / m))


def main():
    a, b, flat = pictures()
    out = {
        'size': SIZE,
        'ssim_a_b': ssim(a, b),
        'ssim_a_a': ssim(a, a),
        'ssim_a_flat': ssim(a, flat),
        'psnr_a_b': psnr(a, b),
    }
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'sr', 'measures.json')
    with open(path, 'w') as f:
        json.dump(out, f, indent=2)
        f.write('\n')
    print(out)


if __name__ == '__main__':
    main()
