#!/usr/bin/env python3
"""Reference values for electron/engine/diffusion/noise.ts: A1111's first noise with a variation seed
and "Resize seed from" (modules/rng.py ImageRNG.first, create_random_tensors).

Run with Debian's PyTorch: `/usr/bin/python3 scripts/reference/rng_variation.py` → test/fixtures/rng/variation.json.

Written from the rules as A1111 states them, in torch float32 as A1111 computes them:
- slerp(val, low, high) on one image's (C, H, W) noise: both normalised by their 2-norm along dim 1,
  cosine = sum over dim 1 of the product, so one angle per (channel, column); if the mean cosine is
  above 0.9995 the result is low·val + high·(1 − val), else
  sin((1 − val)·ω)/sin ω · low + sin(val·ω)/sin ω · high with ω = acos(cosine), broadcast over dim 1.
- Resize seed from (w0, h0) pixels: the seed's noise and the variation noise are drawn at
  (C, h0 // 8, w0 // 8), slerped there, then pasted centred into the image's own first noise:
  dx = (W − w)//2, dy = (H − h)//2 (floor division), copy width w if dx ≥ 0 else w + 2·dx (same for
  height), target offset max(d, 0), source offset max(−d, 0).
The noise itself comes from the two generators the other reference scripts check: rng_nv.py's numpy
Philox (GPU/NV) and torch's CPU generator (CPU, its AVX2 kernel).
"""
import os

os.environ.setdefault('ATEN_CPU_CAPABILITY', 'avx2')  # the kernel TorchCpuNormal reproduces by default

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rng_common import summary, write  # noqa: E402
from rng_nv import Generator as NvGenerator  # noqa: E402


def draw(source, seed, shape):
    """The first tensor of a fresh generator for seed."""
    if source == 'nv':
        return torch.from_numpy(NvGenerator(seed).randn(int(np.prod(shape))).reshape(shape))
    return torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed))


def slerp(val, low, high):
    a = low / torch.linalg.vector_norm(low, dim=1, keepdim=True)
    b = high / torch.linalg.vector_norm(high, dim=1, keepdim=True)
    cos = (a * b).sum(dim=1)
    if cos.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(cos)
    wl = (torch.sin((1.0 - val) * omega) / torch.sin(omega))[:, None, :]
    wh = (torch.sin(val * omega) / torch.sin(omega))[:, None, :]
    return wl * low + wh * high


def first_noise(source, seed, shape, sub=None, strength=0.0, resize_from=None):
    small = shape if resize_from is None else (shape[0], resize_from[1] // 8, resize_from[0] // 8)
    noise = draw(source, seed, small)
    if sub is not None and strength != 0:
        noise = slerp(strength, noise, draw(source, sub, small))
    if small == shape:
        return noise
    x = draw(source, seed, shape)
    H, W = shape[1], shape[2]
    h0, w0 = small[1], small[2]
    dx, dy = (W - w0) // 2, (H - h0) // 2
    w = w0 if dx >= 0 else w0 + 2 * dx
    h = h0 if dy >= 0 else h0 + 2 * dy
    tx, ty, sx, sy = max(dx, 0), max(dy, 0), max(-dx, 0), max(-dy, 0)
    x[:, ty:ty + h, tx:tx + w] = noise[:, sy:sy + h, sx:sx + w]
    return x


def main():
    plan = [
        dict(source='nv', seed=1, shape=(4, 64, 64), sub=2, strength=0.3),
        dict(source='nv', seed=123456789, shape=(4, 96, 64), sub=987654321, strength=1.0),
        dict(source='cpu', seed=5, shape=(4, 64, 64), sub=9, strength=0.75),
        dict(source='cpu', seed=5, shape=(4, 8, 8), sub=9, strength=0.05),
        dict(source='nv', seed=7, shape=(4, 64, 64), resize_from=(384, 320)),  # drawn smaller, pasted inside
        dict(source='nv', seed=7, shape=(4, 64, 64), resize_from=(536, 488)),  # 67×61 into 64×64: odd crop
        dict(source='cpu', seed=11, shape=(4, 48, 40), resize_from=(512, 256)),  # wider, shorter
        dict(source='nv', seed=3, shape=(4, 64, 64), sub=4, strength=0.5, resize_from=(448, 576)),
    ]
    cases = []
    for c in plan:
        x = first_noise(c['source'], c['seed'], c['shape'], c.get('sub'), c.get('strength', 0.0), c.get('resize_from'))
        case = {k: (list(v) if isinstance(v, tuple) else v) for k, v in c.items()}
        cases.append(dict(case, **summary(x.numpy())))
    # The near-parallel fallback: high = low + 0.01·other (float32), mean cosine ≈ 0.99995.
    low = draw('nv', 21, (4, 16, 16))
    high = low + 0.01 * draw('nv', 22, (4, 16, 16))
    a = low / torch.linalg.vector_norm(low, dim=1, keepdim=True)
    b = high / torch.linalg.vector_norm(high, dim=1, keepdim=True)
    assert (a * b).sum(dim=1).mean() > 0.9995
    fallback = dict(low_seed=21, other_seed=22, shape=[4, 16, 16], val=0.3, **summary(slerp(0.3, low, high).numpy()))
    write('variation.json', {'cases': cases, 'fallback': fallback},
          'scripts/reference/rng_variation.py: A1111 variation-seed slerp and resize-seed-from, torch float32')


if __name__ == '__main__':
    main()
