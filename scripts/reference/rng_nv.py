#!/usr/bin/env python3
"""Reference values for A1111's "NV" / "GPU" random source (electron/engine/diffusion/rng.ts PhiloxNormal).

Run: `python3 scripts/reference/rng_nv.py` (numpy only) → test/fixtures/rng/nv.json.

Written from the algorithm as AUTOMATIC1111 describes it for modules/rng_philox.py (torch.randn on a
CUDA generator, reproduced on the CPU), sharing no code with it or with the TypeScript:
- Philox4x32-10 (Salmon et al. 2011): per round, with multipliers M0 = 0xD2511F53, M1 = 0xCD9E8D57,
  (hi0, lo0) = M0·c0, (hi1, lo1) = M1·c2, c ← (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0), then the key is
  bumped by the Weyl constants 0x9E3779B9, 0xBB67AE85 (between rounds; ten rounds).
- key = (seed mod 2^32, seed div 2^32); the k-th draw (k = 0, 1, …) of n values uses counter
  (k, 0, i, 0) for element i.
- Only output words 0 and 1 are used: u = w0·c + c/2 with c = float32(2.3283064e-10),
  v = w1·c' + c'/2 with c' = float32(2.3283064e-10 · 6.2831855), both in float64, and the value is
  float32(sqrt(−2 log u) · sin v).
Here the Philox rounds run in Python integers on one element at a time for the first elements
(a plainly independent check of the vectorised numpy path below, which does all of them).
"""
import numpy as np

from rng_common import summary, write

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
C = float(np.float32(2.3283064e-10))
C2PI = float(np.float32(2.3283064e-10 * 6.2831855))


def philox_scalar(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c3 ^ k1) & MASK, p0 & MASK
        k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
    return c0, c1, c2, c3


def philox_vec(c0, c1, c2, c3, k0, k1):
    """The same rounds over uint64 arrays holding 32-bit words."""
    m = np.uint64(MASK)
    for _ in range(10):
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0) & m, p1 & m, ((p0 >> np.uint64(32)) ^ c3 ^ k1) & m, p0 & m
        k0, k1 = (k0 + np.uint64(W0)) & m, (k1 + np.uint64(W1)) & m
    return c0, c1, c2, c3


def box_muller_sin(w0, w1):
    u = np.asarray(w0, dtype=np.float64) * C + C / 2
    v = np.asarray(w1, dtype=np.float64) * C2PI + C2PI / 2
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


class Generator:
    def __init__(self, seed):
        self.key = (seed & MASK, (seed >> 32) & MASK)
        self.calls = 0

    def randn(self, n):
        i = np.arange(n, dtype=np.uint64)
        z = np.zeros(n, dtype=np.uint64)
        w0, w1, _, _ = philox_vec(z + np.uint64(self.calls), z, i, z, np.uint64(self.key[0]), np.uint64(self.key[1]))
        for j in range(min(n, 8)):  # cross-check the vectorised rounds against the integer ones
            s = philox_scalar((self.calls, 0, j, 0), self.key)
            assert (int(w0[j]), int(w1[j])) == s[:2], (j, s)
        self.calls += 1
        return box_muller_sin(w0, w1)


# Random123's known-answer vectors for Philox4x32-10.
assert philox_scalar((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
assert philox_scalar((MASK,) * 4, (MASK, MASK)) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
assert philox_scalar((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == (
    0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def main():
    # (seed, draws): each draw is a shape; later draws continue the generator (A1111's per-step noise).
    plan = [
        (0, [(3, 4)]),
        (1, [(4, 64, 64), (4, 64, 64)]),
        (12345, [(4, 96, 96)]),
        (3407, [(4, 8, 8), (4, 4, 4), (4, 5, 7), (1,)]),
        (4294967295, [(4, 64, 64)]),
        (4294967295 + 31337, [(4, 16, 16)]),  # seed + ENSD past 2^32: the key's high word is used
        (2 ** 64 - 1, [(4, 8, 8)]),
    ]
    cases = []
    for seed, shapes in plan:
        g = Generator(seed)
        cases.append({'seed': str(seed), 'draws': [dict(shape=list(s), **summary(g.randn(int(np.prod(s))))) for s in shapes]})
    write('nv.json', {'cases': cases}, 'scripts/reference/rng_nv.py: A1111 NV/GPU source, numpy float64 Box-Muller')


if __name__ == '__main__':
    main()
