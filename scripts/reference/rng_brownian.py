#!/usr/bin/env python3
"""Reference values for electron/engine/diffusion/brownian-tree.ts: the Brownian-tree noise A1111's SDE
samplers draw (k-diffusion BrownianTreeNoiseSampler over torchsde 0.2.6's BrownianTree, with A1111's
randn for the seed).

Run with Debian's PyTorch: `/usr/bin/python3 scripts/reference/rng_brownian.py` → test/fixtures/rng/brownian.json.

torchsde is not installed here, so this is a second, independent transcription of the algorithm (as
documented in brownian-tree.ts), in Python with the real pieces it relies on: numpy's SeedSequence for the
node seeds, Python's round(t, 6) for the times, torch float32 arithmetic with Python scalars, and the NV
generator of rng_nv.py for randn. The tree is built top-down by plain recursion (the TypeScript walks it
with loops and caches node values).
"""
import math

import numpy as np
import torch

from rng_common import summary, write
from rng_nv import Generator as NvGenerator

POOL = 24


def randn(seed, n):
    return torch.from_numpy(NvGenerator(int(seed)).randn(n))


class Tree:
    def __init__(self, seed, n, t0, t1):
        self.seed, self.n = seed, n
        self.nodes = {}  # (start, end) -> (W, key, depth)
        w_seed = np.random.SeedSequence(entropy=seed, pool_size=POOL).generate_state(3)[0]
        self.root = (round(t0, 6), round(t1, 6))
        self.nodes[self.root] = (randn(w_seed, n) * math.sqrt(t1 - t0), 0, 0)

    def children(self, a, b):
        """Split [a, b] at its rounded midpoint; the node's own key/depth give the seed of the left child's bridge."""
        W, key, depth = self.nodes[(a, b)]
        m = round(0.5 * (b + a), 6)
        seed = np.random.SeedSequence(entropy=self.seed, spawn_key=(key, depth), pool_size=POOL).generate_state(4)[0]
        if (a, m) not in self.nodes:
            h = 1 / (b - a)
            left = (m - a) * W * h + math.sqrt((m - a) * (b - m) * h) * randn(seed, self.n)
            self.nodes[(a, m)] = (left, 2 * key, depth + 1)
            self.nodes[(m, b)] = (W - left, 2 * key + 1, depth + 1)
        return m

    def cover(self, a, b, ta, tb):
        """Nodes covering [ta, tb] inside node [a, b], left to right."""
        if (ta, tb) == (a, b):
            return [(a, b)]
        m = self.children(a, b)
        if tb <= m:
            return self.cover(a, m, ta, tb)
        if ta >= m:
            return self.cover(m, b, ta, tb)
        return self.cover(a, m, ta, m) + self.cover(m, b, m, tb)

    def increment(self, ta, tb):
        ta, tb = round(ta, 6), round(tb, 6)
        nodes = self.cover(*self.root, ta, tb)
        W = self.nodes[nodes[0]][0]
        for k in nodes[1:]:
            W = W + self.nodes[k][0]
        return W


def noise(tree, sigma, sigma_next):
    s, n = torch.tensor(sigma, dtype=torch.float32), torch.tensor(sigma_next, dtype=torch.float32)
    t0, t1, sign = (s, n, 1) if s < n else (n, s, -1)
    return tree.increment(float(t0), float(t1)) * sign / (n - s).abs().sqrt()


def main():
    # Karras σ for 8 steps between SD's σ_min and σ_max (float32), plus DPM++ SDE's midpoints exp(−(t + t_next)/2).
    smin, smax = 0.0291675, 14.614642
    ramp = np.linspace(0, 1, 8)
    sig = (smax ** (1 / 7) + ramp * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7
    sig = [float(np.float32(s)) for s in sig]
    queries = []
    for a, b in zip(sig, sig[1:]):
        mid = float(np.float32(math.exp(-0.5 * (-math.log(a) - math.log(b)))))
        queries += [(a, mid), (a, b)]
    cases = []
    for seed, n in ((1234, 4 * 8 * 8), (4294967295, 4 * 4 * 4), (77, 4 * 64 * 64)):
        tree = Tree(seed, n, float(np.float32(smin)), float(np.float32(smax)))
        cases.append({'seed': seed, 'n': n, 'sigma_min': float(np.float32(smin)), 'sigma_max': float(np.float32(smax)),
                      'queries': [dict(sigma=a, sigma_next=b, **summary(noise(tree, a, b).numpy(), spread=24)) for a, b in queries]})
    # The pieces on their own: SeedSequence states and Python's round.
    seq = []
    for entropy, key in ((12345, None), (0, (0, 0)), (1234, (5, 3)), (4294967295, (2 ** 33 + 7, 34)), (2 ** 40 + 3, (1, 1))):
        ss = np.random.SeedSequence(entropy=entropy, pool_size=POOL) if key is None else \
            np.random.SeedSequence(entropy=entropy, spawn_key=key, pool_size=POOL)
        seq.append({'entropy': str(entropy), 'spawn_key': None if key is None else [str(k) for k in key],
                    'state': [int(v) for v in ss.generate_state(4)]})
    rng = np.random.default_rng(5)
    xs = [float(x) for x in np.concatenate([rng.uniform(0.02, 15, 200), [0.0078125, 2.5e-7 * 3, 14.6146421, 1.0000005]])]
    rounds = [[x, round(x, 6)] for x in xs]
    write('brownian.json', {'cases': cases, 'seed_sequence': seq, 'round6': rounds},
          'scripts/reference/rng_brownian.py: A1111 Brownian-tree noise (torchsde BrownianTree, NV randn)')


if __name__ == '__main__':
    main()
