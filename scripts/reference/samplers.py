#!/usr/bin/env python3
"""Reference values for electron/engine/diffusion (schedule, spacing, samplers, RNG).

How the fixtures were made: `python3 scripts/reference/samplers.py` (numpy only, float64 throughout)
writes test/fixtures/samplers/{schedule,trajectories,rng}.json. This script is an independent
implementation written from the formulas (shared/reference/ldm-facts.md §2, the CompVis
ddim.py/plms.py loops, diffusers' spacing rules, k-diffusion's Euler / Euler ancestral / DPM++ 2M
loops); it shares no code with the TypeScript samplers. In particular PLMS here is the CompVis loop with
its extra model evaluation on the first step, not the duplicated-timestep formulation the TS code uses,
and the Karras timesteps come from np.interp in log-sigma space.

The fake eps-model is eps_k(x, t) = 0.1 * x_k + sin(0.01 * t + 0.5 * k), called with the scaled model
input and the model timestep. Noise for stochastic samplers comes from numpy's default_rng(seed) and
is written into the fixture in the order it was drawn, so the TS tests can replay it.
"""
import json
import math
import os

import numpy as np

T = 1000
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'samplers')
N = 8  # elements of the toy latent

betas = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), T, dtype=np.float64) ** 2
acp = np.cumprod(1.0 - betas)
sigmas_all = np.sqrt((1.0 - acp) / acp)


def spaced(steps, spacing):
    if spacing == 'leading':
        ratio = T // steps
        return [int(v) for v in (np.arange(0, steps) * ratio).round()[::-1] + 1]
    if spacing == 'trailing':
        ratio = T / steps
        return [int(v) for v in np.round(np.arange(T, 0, -ratio)).astype(np.int64) - 1]
    if spacing == 'uniform':
        c = T // steps
        return [int(v) for v in (np.asarray(list(range(0, T, c))) + 1)[::-1]]
    raise ValueError(spacing)


def fake_eps(x, t):
    k = np.arange(len(x), dtype=np.float64)
    return 0.1 * x + np.sin(0.01 * t + 0.5 * k)


class Noise:
    def __init__(self, seed):
        self.g = np.random.default_rng(seed)
        self.drawn = []

    def __call__(self, n):
        v = self.g.standard_normal(n)
        self.drawn.extend(float(a) for a in v)
        return v


class Recorder:
    """Calls the fake model and records (t, x after the update) per model call."""

    def __init__(self):
        self.calls = []
        self.states = []


def run_ddim(ts, x, eta, noise, start, rec):
    for i in range(start, len(ts)):
        t = ts[i]
        a = acp[t]
        ap = acp[ts[i + 1]] if i + 1 < len(ts) else acp[0]
        e = fake_eps(x, t)
        rec.calls.append(t)
        x0 = (x - math.sqrt(1 - a) * e) / math.sqrt(a)
        sig = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sig ** 2) * e
        if eta > 0:
            x = x + sig * noise(len(x))
        rec.states.append(x)
    return x


def run_ddpm(ts, x, noise, start, rec):
    for i in range(start, len(ts)):
        t = ts[i]
        a = acp[t]
        ap = acp[ts[i + 1]] if i + 1 < len(ts) else 1.0
        beta = 1 - a / ap
        e = fake_eps(x, t)
        rec.calls.append(t)
        x0 = (x - math.sqrt(1 - a) * e) / math.sqrt(a)
        mean = math.sqrt(ap) * beta / (1 - a) * x0 + math.sqrt(a / ap) * (1 - ap) / (1 - a) * x
        if i + 1 < len(ts):
            var = (1 - ap) / (1 - a) * beta
            x = mean + math.sqrt(var) * noise(len(x))
        else:
            x = mean
        rec.states.append(x)
    return x


def run_plms(ts, x, rec):
    """CompVis PLMSSampler.p_sample_plms, eta 0, written as its loop (with the extra first-step call)."""

    def ddim_update(x, e, t, t_prev_alpha):
        a = acp[t]
        x0 = (x - math.sqrt(1 - a) * e) / math.sqrt(a)
        return math.sqrt(t_prev_alpha) * x0 + math.sqrt(1 - t_prev_alpha) * e

    old = []
    for i in range(len(ts)):
        t = ts[i]
        ap = acp[ts[i + 1]] if i + 1 < len(ts) else acp[0]
        e_t = fake_eps(x, t)
        rec.calls.append(t)
        if len(old) == 0 and len(ts) > 1:
            x_prev = ddim_update(x, e_t, t, ap)
            rec.states.append(x_prev)
            t_next = ts[i + 1]
            e_next = fake_eps(x_prev, t_next)
            rec.calls.append(t_next)
            e_prime = (e_t + e_next) / 2
        elif len(old) == 0:
            e_prime = e_t
        elif len(old) == 1:
            e_prime = (3 * e_t - old[-1]) / 2
        elif len(old) == 2:
            e_prime = (23 * e_t - 16 * old[-1] + 5 * old[-2]) / 12
        else:
            e_prime = (55 * e_t - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24
        x = ddim_update(x, e_prime, t, ap)
        rec.states.append(x)
        old.append(e_t)
        if len(old) > 3:
            old.pop(0)
    return x


def sigma_schedule(ts, karras):
    """Returns (model timesteps, sigmas with a final 0)."""
    if not karras:
        return [float(t) for t in ts], np.append(sigmas_all[np.asarray(ts)], 0.0)
    smax, smin = sigmas_all[ts[0]], sigmas_all[ts[-1]]
    rho = 7.0
    ramp = np.linspace(0, 1, len(ts))
    sig = (smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    tt = np.interp(np.log(sig), np.log(sigmas_all), np.arange(T, dtype=np.float64))
    return [float(t) for t in tt], np.append(sig, 0.0)


def run_k(kind, tts, sig, x, noise, start, rec):
    old_denoised = None
    for i in range(start, len(tts)):
        s, sn = sig[i], sig[i + 1]
        e = fake_eps(x / math.sqrt(s * s + 1), tts[i])
        rec.calls.append(tts[i])
        if kind == 'euler':
            x = x + e * (sn - s)
        elif kind == 'euler_a':
            up = min(sn, math.sqrt(sn ** 2 * (s ** 2 - sn ** 2) / s ** 2))
            down = math.sqrt(sn ** 2 - up ** 2)
            x = x + e * (down - s)
            if sn > 0:
                x = x + noise(len(x)) * up
        elif kind == 'dpmpp_2m':
            denoised = x - s * e
            if sn == 0:
                x = denoised
            else:
                lam, lam_n = -math.log(s), -math.log(sn)
                h = lam_n - lam
                if old_denoised is None:
                    d = denoised
                else:
                    h_last = lam - (-math.log(sig[i - 1]))
                    r = h_last / h
                    d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
                x = (sn / s) * x - math.expm1(-h) * d
            old_denoised = denoised
        rec.states.append(x)
    return x


def case(name, sampler, steps, spacing='leading', karras=False, eta=0.0, start=0, seed=0):
    ts = spaced(steps, spacing)
    g = np.random.default_rng(1000 + seed)
    init_noise = g.standard_normal(N)
    x0_img = g.standard_normal(N) * 0.8
    noise = Noise(seed)
    rec = Recorder()
    out = {'name': name, 'sampler': sampler, 'steps': steps, 'spacing': spacing, 'karras': karras,
           'eta': eta, 'startIndex': start, 'initNoise': list(init_noise)}
    if sampler in ('euler', 'euler_a', 'dpmpp_2m'):
        tts, sig = sigma_schedule(ts, karras)
        init_sigma = float(sig[0])
        out['sigmas'] = [float(v) for v in sig]
        if start == 0:
            x = init_noise * init_sigma
        else:
            x = x0_img + sig[start] * init_noise
        run_k(sampler, tts, sig, x, noise, start, rec)
        out['timesteps'] = tts
    else:
        init_sigma = 1.0
        if start == 0:
            x = init_noise.copy()
        else:
            a = acp[ts[start]]
            x = math.sqrt(a) * x0_img + math.sqrt(1 - a) * init_noise
        if sampler == 'ddim':
            run_ddim(ts, x, eta, noise, start, rec)
        elif sampler == 'ddpm':
            run_ddpm(ts, x, noise, start, rec)
        elif sampler == 'plms':
            run_plms(ts, x, rec)
        out['timesteps'] = [float(t) for t in (rec.calls if sampler == 'plms' else ts)]
    if start > 0:
        out['x0'] = list(x0_img)
    out['initNoiseSigma'] = init_sigma
    out['modelTimesteps'] = [float(t) for t in rec.calls]
    out['states'] = [list(map(float, s)) for s in rec.states]
    out['noise'] = noise.drawn
    return out


def philox4x32_10(ctr, key):
    M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    mask = 0xFFFFFFFF
    for r in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32) ^ c3 ^ k1) & mask, p0 & mask
        k0, k1 = (k0 + W0) & mask, (k1 + W1) & mask
    return [c0, c1, c2, c3]


def rng_normals(seed, n, counter=0):
    """Block b = philox(counter [b mod 2^32, b >> 32, 0, 0], key [seed lo, seed hi]); each block's four
    words give two Box-Muller pairs: u = (w + 0.5) / 2^32, r = sqrt(-2 ln u1), theta = 2 pi u2."""
    key = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    out = []
    b = counter
    while len(out) < n:
        w = philox4x32_10([b & 0xFFFFFFFF, (b >> 32) & 0xFFFFFFFF, 0, 0], key)
        b += 1
        for j in (0, 2):
            u1 = (w[j] + 0.5) / 2 ** 32
            u2 = (w[j + 1] + 0.5) / 2 ** 32
            r = math.sqrt(-2 * math.log(u1))
            out.append(r * math.cos(2 * math.pi * u2))
            out.append(r * math.sin(2 * math.pi * u2))
    return out[:n], b


def rng_uniforms(seed, n, counter=0):
    """53-bit uniforms in [0, 1): two per block, (hi >> 5, lo >> 6) as in the usual double construction."""
    key = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    out = []
    b = counter
    while len(out) < n:
        w = philox4x32_10([b & 0xFFFFFFFF, (b >> 32) & 0xFFFFFFFF, 0, 0], key)
        b += 1
        for j in (0, 2):
            out.append(((w[j] >> 5) * 67108864 + (w[j + 1] >> 6)) / 9007199254740992)
    return out[:n], b


def main():
    os.makedirs(OUT, exist_ok=True)
    pick = [0, 1, 2, 10, 100, 250, 500, 750, 998, 999]
    schedule = {
        'betas': {str(i): float(betas[i]) for i in pick},
        'alphasCumprod': {str(i): float(acp[i]) for i in pick},
        'sigmas': {str(i): float(sigmas_all[i]) for i in pick},
        'spacing': {f'{sp}/{s}': spaced(s, sp) for sp in ('leading', 'trailing', 'uniform') for s in (1, 7, 10, 16, 30, 50)},
        'karras': {},
    }
    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    cos_betas = np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=np.float64)
    cos_acp = np.cumprod(1.0 - cos_betas)
    schedule['cosine'] = {
        'betas': {str(i): float(cos_betas[i]) for i in pick},
        'alphasCumprod': {str(i): float(cos_acp[i]) for i in pick},
    }
    for s in (5, 10):
        tts, sig = sigma_schedule(spaced(s, 'leading'), True)
        schedule['karras'][f'leading/{s}'] = {'timesteps': tts, 'sigmas': [float(v) for v in sig]}

    cases = [
        case('ddim eta0 leading', 'ddim', 10),
        case('ddim eta0 trailing', 'ddim', 7, 'trailing'),
        case('ddim eta0 uniform', 'ddim', 30, 'uniform'),
        case('ddim eta0.5', 'ddim', 10, eta=0.5, seed=1),
        case('ddim eta1 img2img', 'ddim', 10, eta=1.0, start=4, seed=2),
        case('ddpm', 'ddpm', 10, seed=3),
        case('ddpm img2img', 'ddpm', 10, start=3, seed=4),
        case('plms leading', 'plms', 10),
        case('plms trailing', 'plms', 16, 'trailing'),
        case('plms 2 steps', 'plms', 2),
        case('euler', 'euler', 10),
        case('euler karras', 'euler', 10, karras=True),
        case('euler trailing img2img', 'euler', 10, 'trailing', start=5),
        case('euler_a', 'euler_a', 10, seed=5),
        case('euler_a karras', 'euler_a', 8, karras=True, seed=6),
        case('dpmpp_2m', 'dpmpp_2m', 10),
        case('dpmpp_2m karras', 'dpmpp_2m', 10, karras=True),
        case('dpmpp_2m karras trailing', 'dpmpp_2m', 12, 'trailing', karras=True),
        case('dpmpp_2m img2img', 'dpmpp_2m', 10, start=3),
    ]

    kats = [
        {'ctr': [0, 0, 0, 0], 'key': [0, 0]},
        {'ctr': [0xFFFFFFFF] * 4, 'key': [0xFFFFFFFF] * 2},
        {'ctr': [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], 'key': [0xA4093822, 0x299F31D0]},
    ]
    for k in kats:
        k['out'] = philox4x32_10(k['ctr'], k['key'])
    rng = {'philox': kats, 'normal': [], 'uniform': []}
    for seed in (0, 42, 2 ** 32 + 7, 2 ** 53 - 1):
        v, blocks = rng_normals(seed, 11)
        v2, blocks2 = rng_normals(seed, 5, blocks)
        rng['normal'].append({'seed': str(seed), 'first': v, 'then': v2, 'blocks': blocks2})
        u, ub = rng_uniforms(seed, 5)
        rng['uniform'].append({'seed': str(seed), 'values': u, 'blocks': ub})

    for fname, data in (('schedule.json', schedule), ('trajectories.json', cases), ('rng.json', rng)):
        with open(os.path.join(OUT, fname), 'w') as f:
            json.dump(data, f, indent=1)
            f.write('\n')
    print(f'wrote {len(cases)} trajectories to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
