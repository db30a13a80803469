#!/usr/bin/env python3
"""Reference values for A1111's "CPU" random source (electron/engine/diffusion/rng.ts TorchCpuNormal).

Run with Debian's PyTorch: `/usr/bin/python3 scripts/reference/rng_torch_cpu.py` → test/fixtures/rng/cpu.json.

The values are PyTorch's own: torch.Generator('cpu').manual_seed(seed), then torch.randn(shape,
generator=g) for each draw in turn, as A1111 draws the initial noise and then the sampler noise from
one per-image generator. PyTorch picks a float32 kernel by CPU capability (ATEN_CPU_CAPABILITY:
default, avx2, avx512). For n >= 16 the AVX2 and AVX512 builds run a float32 Box-Muller with Cephes-style
polynomials (avx_mathfun), the default build the C library's logf/cosf/sinf: the two differ by up to
~1.5e-6. The fixture holds both ('avx2', checked equal to 'avx512' here, and 'default'); the TypeScript
has a kernel for each and must be within 1e-6 of its own.
"""
import json
import os
import subprocess
import sys

import numpy as np

from rng_common import summary, write  # noqa: E402

PLAN = [
    # (seed, draws): each draw a shape, from one generator in order.
    (0, [(3, 4)]),
    (1, [(4, 64, 64), (4, 64, 64)]),
    (12345, [(4, 96, 96)]),
    # small draws take the float64 path, whose second value is cached in the generator across calls
    (3407, [(4, 8, 8), (4, 4, 4), (3,), (5,), (1, 3), (4, 5, 7), (15,), (16,), (17,), (2,)]),
    (4294967295, [(4, 64, 64)]),
    (4294967295 + 31337, [(4, 16, 16)]),  # past 2^32: torch seeds mt19937 with the low 32 bits
    (777, [(4, 128, 72), (4, 3, 3)]),
]


def draw_all():
    import torch
    out = []
    for seed, shapes in PLAN:
        g = torch.Generator('cpu').manual_seed(seed)
        out.append({'seed': str(seed), 'draws': [dict(shape=list(s), **summary(torch.randn(s, generator=g).numpy())) for s in shapes]})
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        json.dump(draw_all(), sys.stdout)
        return
    by_cap = {}
    for cap in ('default', 'avx2', 'avx512'):
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
        res = subprocess.run([sys.executable, __file__, '--child'], env=env, capture_output=True, text=True, check=True)
        by_cap[cap] = json.loads(res.stdout)
    base = by_cap['default']
    for cap, cases in by_cap.items():
        worst = max(abs(a - b) for c0, c1 in zip(base, cases) for d0, d1 in zip(c0['draws'], c1['draws'])
                    for a, b in zip(d0['values'], d1['values']))
        print(f'{cap}: max |difference| from default {worst:.3g}')
    assert by_cap['avx512'] == by_cap['avx2'], 'avx512 and avx2 kernels differ: store both'
    del by_cap['avx512']
    import torch
    write('cpu.json', {'torch': torch.__version__, 'capabilities': by_cap},
          'scripts/reference/rng_torch_cpu.py: torch.randn on CPU generators, per ATEN_CPU_CAPABILITY')


if __name__ == '__main__':
    main()
