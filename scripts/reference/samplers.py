#!/usr/bin/env python3
"""Reference values for electron/engine/diffusion (schedules, σ lists, samplers, RNG).

How the fixtures were made: `python3 scripts/reference/samplers.py` (numpy only, float64 throughout)
writes test/fixtures/samplers/{schedule,sigmas,trajectories,rng}.json. This is an independent
implementation written from the originals' loops, sharing no code with the TypeScript samplers:
- σ lists as k-diffusion's CompVisDenoiser / DiscreteSchedule and A1111's modules/sd_schedulers.py build
  them (Uniform = get_sigmas, Karras, Exponential, SGM Uniform), plus σ at diffusers' spaced timesteps;
  A1111's LCM denoiser table; A1111's discard_next_to_last_sigma for DPM2, DPM2 a and DPM++ 3M SDE.
- the σ-space samplers as whole loops over the σ list in the shape of k-diffusion's sampling.py (the
  TypeScript runs one step per call); LMS coefficients by exact polynomial integration (numpy.polynomial)
  where k-diffusion uses scipy's quad;
- DDIM and PLMS as CompVis's ddim.py / plms.py loops; UniPC as A1111's uni_pc.py sample() (multistep,
  bh1, order 3, time-uniform, lower order final), with its model call inside the corrector.

The fake model is f_k(x, t) = 0.1 * x_k + sin(0.01 * t + 0.5 * k) (t-dependent), read as ε, or as v for
the v-prediction cases. Noise draw number j (0-based, over the whole run) element k is
float32(1.3 * sin(1.7 * j + 0.9 * k + 0.3)); the TS tests make the same draws.
"""
import json
import math
import os

import numpy as np
from numpy.polynomial import polynomial as P

T = 1000
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'samplers')
N = 8  # elements of the toy latent

betas = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), T, dtype=np.float64) ** 2
acp = np.cumprod(1.0 - betas)
sigmas_all = np.sqrt((1.0 - acp) / acp)
log_sigmas = np.log(sigmas_all)


# ----------------------------------------------------------------------------- spacing and σ tables

def spaced(steps, spacing):
    if spacing == 'leading':
        ratio = T // steps
        return [int(v) for v in (np.arange(0, steps) * ratio).round()[::-1] + 1]
    if spacing == 'trailing':
        ratio = T / steps
        return [int(v) for v in np.round(np.arange(T, 0, -ratio)).astype(np.int64) - 1]
    if spacing == 'linspace':
        return [int(v) for v in np.linspace(0, T - 1, steps).round()[::-1].astype(np.int64)]
    if spacing == 'compvis':
        c = T // steps
        return [int(v) for v in np.clip(np.asarray(list(range(0, T, c))) + 1, 0, T - 1)[::-1]]  # A1111's clip
    raise ValueError(spacing)


class Discrete:
    """k-diffusion DiscreteSchedule over an ascending σ table (not quantized)."""

    def __init__(self, sig):
        self.sigmas = np.asarray(sig, dtype=np.float64)
        self.log_sigmas = np.log(self.sigmas)

    def sigma_to_t(self, sigma):
        log_sigma = math.log(sigma)
        dists = log_sigma - self.log_sigmas
        low_idx = min(int(np.cumsum(dists >= 0).argmax()), len(self.sigmas) - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = min(max((low - log_sigma) / (low - high), 0.0), 1.0)
        return (1 - w) * low_idx + w * high_idx

    def t_to_sigma(self, t):
        low = math.floor(t)
        high = math.ceil(t)
        w = t - low
        return math.exp((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high])

    def get_sigmas(self, n):
        t = np.linspace(len(self.sigmas) - 1, 0, n)
        return np.append([self.t_to_sigma(v) for v in t], 0.0)

    def model_t(self, sigma):
        return self.sigma_to_t(sigma)


class LcmTable(Discrete):
    """A1111 LCMCompVisDenoiser: 50 σ at timesteps 19, 39, …, 999; quantized σ → t."""

    def __init__(self):
        self.skip = T // 50
        valid = np.zeros(50)
        for x in range(50):
            valid[50 - 1 - x] = sigmas_all[T - 1 - x * self.skip]
        super().__init__(valid)

    def sigma_to_t(self, sigma):
        return int(np.abs(math.log(sigma) - self.log_sigmas).argmin()) * self.skip + (self.skip - 1)

    def t_to_sigma(self, t):
        tt = min(max((t - (self.skip - 1)) / self.skip, 0), len(self.sigmas) - 1)
        return super().t_to_sigma(tt)

    def get_sigmas(self, n):
        start = self.sigma_to_t(self.sigmas[-1])
        end = self.sigma_to_t(self.sigmas[0])
        return np.append([self.t_to_sigma(v) for v in np.linspace(start, end, n)], 0.0)


COMPVIS = Discrete(sigmas_all)
LCM = LcmTable()


def sigma_list(kind, n, table, discard=False):
    """A1111 KDiffusionSampler.get_sigmas for a resolved schedule type."""
    m = n + 1 if discard else n
    smin, smax = table.sigmas[0], table.sigmas[-1]
    if kind == 'uniform':
        s = table.get_sigmas(m)
    elif kind == 'karras':
        rho = 7.0
        ramp = np.linspace(0, 1, m)
        s = np.append((smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho, 0.0)
    elif kind == 'exponential':
        s = np.append(np.exp(np.linspace(math.log(smax), math.log(smin), m)), 0.0)
    elif kind == 'sgm_uniform':
        start, end = table.sigma_to_t(smax), table.sigma_to_t(smin)
        s = np.append([table.t_to_sigma(v) for v in np.linspace(start, end, m + 1)[:-1]], 0.0)
    elif kind == 'polyexponential':
        ramp = np.linspace(1, 0, m) ** 1.0
        s = np.append(np.exp(ramp * (math.log(smax) - math.log(smin)) + math.log(smin)), 0.0)
    elif kind == 'kl_optimal':
        a_min, a_max = math.atan(smin), math.atan(smax)
        idx = np.arange(m + 1)
        s = np.tan(idx / m * a_min + (1.0 - idx / m) * a_max)
    elif kind == 'align_your_steps':
        ays = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]
        if m != len(ays):
            xs = np.linspace(0, 1, len(ays))
            ys = np.log(ays[::-1])
            s = np.append(np.exp(np.interp(np.linspace(0, 1, m), xs, ys))[::-1], 0.0)
        else:
            s = np.append(ays, 0.0)
    elif kind == 'simple':
        ss = len(table.sigmas) / m
        s = np.append([table.sigmas[-(1 + int(x * ss))] for x in range(m)], 0.0)
    elif kind == 'ddim_uniform':
        ss = max(len(table.sigmas) // m, 1)
        sigs, x = [], 1
        while x < len(table.sigmas):
            sigs.append(table.sigmas[x])
            x += ss
        s = np.append(sigs[::-1], 0.0)
    elif kind in ('leading', 'trailing', 'linspace'):
        s = np.append(sigmas_all[np.asarray(spaced(m, kind))], 0.0)
    else:
        raise ValueError(kind)
    if discard:
        s = np.concatenate([s[:-2], s[-1:]])
    return s


# ----------------------------------------------------------------------------- fake model and noise

def fake_model(x, t):
    k = np.arange(len(x), dtype=np.float64)
    return 0.1 * x + np.sin(0.01 * t + 0.5 * k)


class Noise:
    def __init__(self):
        self.j = 0

    def __call__(self, *_):
        k = np.arange(N, dtype=np.float64)
        v = np.float32(1.3 * np.sin(1.7 * self.j + 0.9 * k + 0.3)).astype(np.float64)
        self.j += 1
        return v


class Calls:
    def __init__(self):
        self.ts = []


# ----------------------------------------------------------------------------- σ-space (k-diffusion)

def k_denoiser(table, prediction, calls, lcm=False):
    """CompVisDenoiser / CompVisVDenoiser / A1111 LCM denoiser around the fake model: D(x, σ)."""

    def model(x, sigma):
        c_in = 1 / math.sqrt(sigma ** 2 + 1)
        t = table.model_t(sigma)
        calls.ts.append(float(t))
        out = fake_model(x * c_in, t)
        if lcm:
            x0 = x - sigma * out
            st = t * 10.0
            c_skip = 0.25 / (st ** 2 + 0.25)
            c_out = st / (st ** 2 + 0.25) ** 0.5
            return c_out * x0 + c_skip * x
        if prediction == 'v_prediction':
            c_skip = 1 / (sigma ** 2 + 1)
            c_out = -sigma / (sigma ** 2 + 1) ** 0.5
            return c_skip * x + c_out * out
        return x - sigma * out

    return model


def to_d(x, sigma, denoised):
    return (x - denoised) / sigma


def ancestral_step(s_from, s_to, eta=1.0):
    up = min(s_to, eta * (s_to ** 2 * (s_from ** 2 - s_to ** 2) / s_from ** 2) ** 0.5)
    return (s_to ** 2 - up ** 2) ** 0.5, up


def sample_euler(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        x = x + to_d(x, sig[i], den) * (sig[i + 1] - sig[i])
    return x


def sample_euler_ancestral(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        down, up = ancestral_step(sig[i], sig[i + 1])
        x = x + to_d(x, sig[i], den) * (down - sig[i])
        if sig[i + 1] > 0:
            x = x + noise(sig[i], sig[i + 1]) * up
    return x


def sample_heun(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        d = to_d(x, sig[i], den)
        dt = sig[i + 1] - sig[i]
        if sig[i + 1] == 0:
            x = x + d * dt
        else:
            x2 = x + d * dt
            d2 = to_d(x2, sig[i + 1], model(x2, sig[i + 1]))
            x = x + (d + d2) / 2 * dt
    return x


def sample_dpm_2(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        d = to_d(x, sig[i], den)
        if sig[i + 1] == 0:
            x = x + d * (sig[i + 1] - sig[i])
        else:
            mid = math.exp(math.log(sig[i]) + 0.5 * (math.log(sig[i + 1]) - math.log(sig[i])))
            x2 = x + d * (mid - sig[i])
            d2 = to_d(x2, mid, model(x2, mid))
            x = x + d2 * (sig[i + 1] - sig[i])
    return x


def sample_dpm_2_ancestral(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        down, up = ancestral_step(sig[i], sig[i + 1])
        d = to_d(x, sig[i], den)
        if down == 0:
            x = x + d * (down - sig[i])
        else:
            mid = math.exp(math.log(sig[i]) + 0.5 * (math.log(down) - math.log(sig[i])))
            x2 = x + d * (mid - sig[i])
            d2 = to_d(x2, mid, model(x2, mid))
            x = x + d2 * (down - sig[i])
            x = x + noise(sig[i], sig[i + 1]) * up
    return x


def lms_coeff(order, t, i, j):
    """∫ from t[i] to t[i+1] of the Lagrange basis polynomial j, integrated exactly."""
    poly = np.array([1.0])
    for k in range(order):
        if k == j:
            continue
        poly = P.polymul(poly, np.array([-t[i - k], 1.0]) / (t[i - j] - t[i - k]))
    integ = P.polyint(poly)
    return float(P.polyval(t[i + 1], integ) - P.polyval(t[i], integ))


def sample_lms(model, x, sig, noise, order=4):
    ds = []
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        ds.append(to_d(x, sig[i], den))
        if len(ds) > order:
            ds.pop(0)
        cur = min(i + 1, order)
        coeffs = [lms_coeff(cur, sig, i, j) for j in range(cur)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


def sigma_fn(t):
    return math.exp(-t)


def t_fn(s):
    return -math.log(s)


def sample_dpmpp_2s_ancestral(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        down, up = ancestral_step(sig[i], sig[i + 1])
        if down == 0:
            x = x + to_d(x, sig[i], den) * (down - sig[i])
        else:
            t, t_next = t_fn(sig[i]), t_fn(down)
            h = t_next - t
            s = t + 0.5 * h
            x2 = (sigma_fn(s) / sigma_fn(t)) * x - math.expm1(-h * 0.5) * den
            den2 = model(x2, sigma_fn(s))
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - math.expm1(-h) * den2
        if sig[i + 1] > 0:
            x = x + noise(sig[i], sig[i + 1]) * up
    return x


def sample_dpmpp_sde(model, x, sig, noise, r=0.5):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        if sig[i + 1] == 0:
            x = x + to_d(x, sig[i], den) * (sig[i + 1] - sig[i])
        else:
            t, t_next = t_fn(sig[i]), t_fn(sig[i + 1])
            h = t_next - t
            s = t + h * r
            fac = 1 / (2 * r)
            sd, su = ancestral_step(sigma_fn(t), sigma_fn(s))
            s_ = t_fn(sd)
            x2 = (sigma_fn(s_) / sigma_fn(t)) * x - math.expm1(t - s_) * den
            x2 = x2 + noise(sigma_fn(t), sigma_fn(s)) * su
            den2 = model(x2, sigma_fn(s))
            sd, su = ancestral_step(sigma_fn(t), sigma_fn(t_next))
            t_next_ = t_fn(sd)
            dd = (1 - fac) * den + fac * den2
            x = (sigma_fn(t_next_) / sigma_fn(t)) * x - math.expm1(t - t_next_) * dd
            x = x + noise(sigma_fn(t), sigma_fn(t_next)) * su
    return x


def sample_dpmpp_2m(model, x, sig, noise):
    old = None
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        if sig[i + 1] == 0:
            x = den
        else:
            t, t_next = t_fn(sig[i]), t_fn(sig[i + 1])
            h = t_next - t
            if old is None:
                x = (sig[i + 1] / sig[i]) * x - math.expm1(-h) * den
            else:
                r = (t - t_fn(sig[i - 1])) / h
                dd = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old
                x = (sig[i + 1] / sig[i]) * x - math.expm1(-h) * dd
        old = den
    return x


def sample_dpmpp_2m_sde(model, x, sig, noise, eta=1.0, solver_type='midpoint'):
    old, h_last = None, None
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        if sig[i + 1] == 0:
            x = den
        else:
            t, s = -math.log(sig[i]), -math.log(sig[i + 1])
            h = s - t
            eta_h = eta * h
            x = sig[i + 1] / sig[i] * math.exp(-eta_h) * x + (-math.expm1(-h - eta_h)) * den
            if old is not None:
                r = h_last / h
                if solver_type == 'heun':
                    x = x + ((-math.expm1(-h - eta_h)) / (-h - eta_h) + 1) * (1 / r) * (den - old)
                else:
                    x = x + 0.5 * (-math.expm1(-h - eta_h)) * (1 / r) * (den - old)
            x = x + noise(sig[i], sig[i + 1]) * sig[i + 1] * math.sqrt(-math.expm1(-2 * eta_h))
            h_last = h
        old = den
    return x


def sample_dpmpp_3m_sde(model, x, sig, noise, eta=1.0):
    d_1, d_2, h_1, h_2 = None, None, None, None
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        if sig[i + 1] == 0:
            x = den
            continue
        t, s = -math.log(sig[i]), -math.log(sig[i + 1])
        h = s - t
        h_eta = h * (eta + 1)
        x = math.exp(-h_eta) * x + (-math.expm1(-h_eta)) * den
        if h_2 is not None:
            r0, r1 = h_1 / h, h_2 / h
            d1_0 = (den - d_1) / r0
            d1_1 = (d_1 - d_2) / r1
            d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * d1 - phi_3 * d2
        elif h_1 is not None:
            r = h_1 / h
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            x = x + phi_2 * (den - d_1) / r
        x = x + noise(sig[i], sig[i + 1]) * sig[i + 1] * math.sqrt(-math.expm1(-2 * h * eta))
        d_1, d_2 = den, d_1
        h_1, h_2 = h, h_1
    return x


def sample_lcm(model, x, sig, noise):
    for i in range(len(sig) - 1):
        den = model(x, sig[i])
        x = den
        if sig[i + 1] > 0:
            x = x + sig[i + 1] * noise(sig[i], sig[i + 1])
    return x


K_SAMPLERS = {
    'euler': (sample_euler, False), 'euler_a': (sample_euler_ancestral, False), 'lms': (sample_lms, False),
    'heun': (sample_heun, False), 'dpm2': (sample_dpm_2, True), 'dpm2_a': (sample_dpm_2_ancestral, True),
    'dpmpp_2s_a': (sample_dpmpp_2s_ancestral, False), 'dpmpp_sde': (sample_dpmpp_sde, False),
    'dpmpp_2m': (sample_dpmpp_2m, False), 'dpmpp_2m_sde': (sample_dpmpp_2m_sde, False),
    'dpmpp_2m_sde_heun': (lambda m, x, s, n: sample_dpmpp_2m_sde(m, x, s, n, solver_type='heun'), False),
    'dpmpp_3m_sde': (sample_dpmpp_3m_sde, True), 'lcm': (sample_lcm, False),
}
# A1111 >= 1.9: what "Automatic" resolves to (the sampler's 'scheduler' option; none = get_sigmas).
AUTOMATIC = {'dpmpp_2m': 'karras', 'dpmpp_sde': 'karras', 'dpmpp_2m_sde': 'exponential', 'dpmpp_2m_sde_heun': 'exponential', 'dpmpp_2s_a': 'karras',
             'dpmpp_3m_sde': 'exponential', 'dpm2': 'karras', 'dpm2_a': 'karras'}
A1111_TYPES = ['automatic', 'uniform', 'karras', 'exponential', 'sgm_uniform', 'polyexponential', 'kl_optimal',
               'align_your_steps', 'simple', 'ddim_uniform']
K_TYPES = A1111_TYPES + ['leading', 'trailing', 'linspace']
LCM_TYPES = A1111_TYPES
# The five types the issue names are run at 7, 20, 30 and 50 steps; the rest at 7 and 20 (fixture size).
MAIN_TYPES = ['automatic', 'uniform', 'karras', 'exponential', 'sgm_uniform']
ALPHA_TYPES = ['automatic', 'leading', 'trailing', 'linspace']


# ----------------------------------------------------------------------------- ᾱ-space (CompVis)

def eps_model(prediction, calls):
    def model(x, t):
        calls.ts.append(float(t))
        out = fake_model(x, t)
        if prediction == 'v_prediction':
            return math.sqrt(acp[t]) * out + math.sqrt(1 - acp[t]) * x
        return out
    return model


def ddim_loop(model, x, ts, eta, noise, start):
    """CompVis DDIMSampler.ddim_sampling over descending timesteps ts (alphas_prev of the last = ᾱ[0])."""
    asc = ts[::-1]
    alphas = acp[np.asarray(asc)]
    alphas_prev = np.asarray([acp[0]] + list(acp[np.asarray(asc[:-1], dtype=np.int64)]))
    sig = eta * np.sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev))
    total = len(ts)
    for i in range(start, total):
        index = total - i - 1
        e = model(x, ts[i])
        a_t, a_prev, s_t = alphas[index], alphas_prev[index], sig[index]
        pred_x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
        x = math.sqrt(a_prev) * pred_x0 + math.sqrt(1 - a_prev - s_t ** 2) * e
        if eta > 0:
            x = x + s_t * noise()
    return x


def plms_loop(model, x, ts, start):
    """CompVis PLMSSampler.plms_sampling / p_sample_plms (η = 0)."""
    asc = ts[::-1]
    alphas = acp[np.asarray(asc)]
    alphas_prev = np.asarray([acp[0]] + list(acp[np.asarray(asc[:-1], dtype=np.int64)]))
    total = len(ts)
    old_eps = []
    for i in range(start, total):
        index = total - i - 1
        t_next = ts[min(i + 1, total - 1)]

        def x_prev_of(e, x=x, index=index):
            a_t, a_prev = alphas[index], alphas_prev[index]
            pred_x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
            return math.sqrt(a_prev) * pred_x0 + math.sqrt(1 - a_prev) * e

        e_t = model(x, ts[i])
        if len(old_eps) == 0:
            e_next = model(x_prev_of(e_t), t_next)
            e_prime = (e_t + e_next) / 2
        elif len(old_eps) == 1:
            e_prime = (3 * e_t - old_eps[-1]) / 2
        elif len(old_eps) == 2:
            e_prime = (23 * e_t - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
        else:
            e_prime = (55 * e_t - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24
        x = x_prev_of(e_prime)
        old_eps.append(e_t)
        if len(old_eps) >= 4:
            old_eps.pop(0)
    return x


def ddpm_loop(model, x, ts, noise, start):
    for i in range(start, len(ts)):
        t = ts[i]
        a = acp[t]
        ap = acp[ts[i + 1]] if i + 1 < len(ts) else 1.0
        beta = 1 - a / ap
        e = model(x, t)
        x0 = (x - math.sqrt(1 - a) * e) / math.sqrt(a)
        mean = math.sqrt(ap) * beta / (1 - a) * x0 + math.sqrt(a / ap) * (1 - ap) / (1 - a) * x
        if i + 1 < len(ts):
            x = mean + math.sqrt((1 - ap) / (1 - a) * beta) * noise()
        else:
            x = mean
    return x


# ----------------------------------------------------------------------------- UniPC (A1111 uni_pc.py)

class NoiseScheduleVP:
    def __init__(self):
        self.total_N = T
        self.t_array = np.linspace(0.0, 1.0, T + 1)[1:]
        self.log_alpha_array = 0.5 * np.log(acp)

    def marginal_log_mean_coeff(self, t):
        xp, yp = self.t_array, self.log_alpha_array
        k = min(max(int(np.searchsorted(xp, t, side='right')) - 1, 0), len(xp) - 2)
        return yp[k] + (t - xp[k]) * (yp[k + 1] - yp[k]) / (xp[k + 1] - xp[k])

    def marginal_alpha(self, t):
        return math.exp(self.marginal_log_mean_coeff(t))

    def marginal_std(self, t):
        return math.sqrt(1.0 - math.exp(2.0 * self.marginal_log_mean_coeff(t)))

    def marginal_lambda(self, t):
        lm = self.marginal_log_mean_coeff(t)
        return lm - 0.5 * math.log(1.0 - math.exp(2.0 * lm))


def unipc_loop(model_eps, x, steps, start, calls, order=3, prediction='epsilon'):
    ns = NoiseScheduleVP()
    times = np.linspace(1.0, 1.0 / T, steps + 1)
    order = min(order, steps - start)

    def model_fn(x, t):
        t_input = (t - 1.0 / ns.total_N) * 1000.0
        calls.ts.append(float(t_input))
        out = fake_model(x, t_input)
        if prediction == 'v_prediction':
            a = acp[int(t_input)]
            out = math.sqrt(a) * out + math.sqrt(1 - a) * x
        return (x - ns.marginal_std(t) * out) / ns.marginal_alpha(t)

    def update(x, model_prev_list, t_prev_list, t, order, use_corrector):
        t_prev_0 = t_prev_list[-1]
        lambda_prev_0 = ns.marginal_lambda(t_prev_0)
        lambda_t = ns.marginal_lambda(t)
        model_prev_0 = model_prev_list[-1]
        sigma_prev_0, sigma_t = ns.marginal_std(t_prev_0), ns.marginal_std(t)
        alpha_t = math.exp(ns.marginal_log_mean_coeff(t))
        h = lambda_t - lambda_prev_0
        rks, D1s = [], []
        for i in range(1, order):
            rk = (ns.marginal_lambda(t_prev_list[-(i + 1)]) - lambda_prev_0) / h
            rks.append(rk)
            D1s.append((model_prev_list[-(i + 1)] - model_prev_0) / rk)
        rks.append(1.0)
        rks = np.asarray(rks)
        hh = -h
        h_phi_1 = math.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial_i = 1
        B_h = hh
        R, b = [], []
        for i in range(1, order + 1):
            R.append(rks ** (i - 1))
            b.append(h_phi_k * factorial_i / B_h)
            factorial_i *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        R = np.stack(R)
        b = np.asarray(b)
        if len(D1s) > 0:
            rhos_p = np.array([0.5]) if order == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
        rhos_c = np.array([0.5]) if order == 1 else np.linalg.solve(R, b)
        x_t_ = sigma_t / sigma_prev_0 * x - alpha_t * h_phi_1 * model_prev_0
        pred_res = sum(r * d for r, d in zip(rhos_p, D1s)) if len(D1s) > 0 else 0
        x_t = x_t_ - alpha_t * B_h * pred_res
        model_t = None
        if use_corrector:
            model_t = model_fn(x_t, t)
            corr_res = sum(r * d for r, d in zip(rhos_c[:-1], D1s)) if len(D1s) > 0 else 0
            x_t = x_t_ - alpha_t * B_h * (corr_res + rhos_c[-1] * (model_t - model_prev_0))
        return x_t, model_t

    t0 = times[start]
    model_prev_list = [model_fn(x, t0)]
    t_prev_list = [t0]
    for init_order in range(1, order):
        t = times[start + init_order]
        x, model_x = update(x, model_prev_list, t_prev_list, t, init_order, True)
        model_prev_list.append(model_x)
        t_prev_list.append(t)
    for step in range(start + order, steps + 1):
        t = times[step]
        step_order = min(order, steps + 1 - step)
        use_corrector = step != steps
        x, model_x = update(x, model_prev_list, t_prev_list, t, step_order, use_corrector)
        for i in range(order - 1):
            t_prev_list[i] = t_prev_list[i + 1]
            model_prev_list[i] = model_prev_list[i + 1]
        t_prev_list[-1] = t
        if step < steps:
            model_prev_list[-1] = model_x
    return x, times


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


# ----------------------------------------------------------------------------- cases

def resolve(sampler, kind):
    if kind != 'automatic':
        return kind
    return AUTOMATIC.get(sampler, 'uniform')


def case(sampler, kind, steps, prediction='epsilon', eta=0.0, start=0, keep_calls=False):
    g = np.random.default_rng(1000 + steps + 7 * start)
    init_noise = g.standard_normal(N)
    x0_img = g.standard_normal(N) * 0.8
    noise = Noise()
    calls = Calls()
    out = {'name': f'{sampler} {kind} {steps}' + (f' {prediction}' if prediction != 'epsilon' else '')
           + (f' eta {eta}' if eta else '') + (f' from {start}' if start else ''),
           'sampler': sampler, 'schedule': kind, 'steps': steps, 'prediction': prediction, 'eta': eta,
           'startIndex': start, 'initNoise': list(init_noise)}
    if start:
        out['x0'] = list(x0_img)
    if sampler in K_SAMPLERS:
        fn, discard = K_SAMPLERS[sampler]
        table = LCM if sampler == 'lcm' else COMPVIS
        sig = sigma_list(resolve(sampler, kind), steps, table, discard)
        if keep_calls:
            out['sigmas'] = [float(v) for v in sig]
        x = init_noise * sig[0] if start == 0 else x0_img + sig[start] * init_noise
        model = k_denoiser(table, prediction, calls, lcm=sampler == 'lcm')
        final = fn(model, x, sig[start:], noise)
        out['initNoiseSigma'] = float(sig[0])
        out['nSteps'] = len(sig) - 1
    elif sampler == 'unipc':
        n = len(spaced(steps, 'compvis'))
        times = np.linspace(1.0, 1.0 / T, n + 1)
        ns = NoiseScheduleVP()
        x = init_noise if start == 0 else ns.marginal_alpha(times[start]) * x0_img + ns.marginal_std(times[start]) * init_noise
        final, _ = unipc_loop(None, x, n, start, calls, prediction=prediction)
        out['initNoiseSigma'] = 1.0
        out['nSteps'] = n
    else:
        ts = spaced(steps, 'compvis' if kind == 'automatic' else kind)
        x = init_noise if start == 0 else math.sqrt(acp[ts[start]]) * x0_img + math.sqrt(1 - acp[ts[start]]) * init_noise
        model = eps_model(prediction, calls)
        if sampler == 'ddim':
            final = ddim_loop(model, x, ts, eta, noise, start)
        elif sampler == 'plms':
            final = plms_loop(model, x, ts, start)
        else:
            final = ddpm_loop(model, x, ts, noise, start)
        out['timesteps'] = ts
        out['initNoiseSigma'] = 1.0
        out['nSteps'] = len(ts)
    out['final'] = [float(v) for v in final]
    out['nCalls'] = len(calls.ts)
    out['callSum'] = float(sum(calls.ts))
    if keep_calls:
        out['calls'] = calls.ts
    out['noiseDraws'] = noise.j
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    pick = [0, 1, 2, 10, 100, 250, 500, 750, 998, 999]
    lin_betas = np.linspace(0.0001, 0.02, T)
    lin_acp = np.cumprod(1.0 - lin_betas)

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    cos_betas = np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=np.float64)
    cos_acp = np.cumprod(1.0 - cos_betas)
    schedule = {
        'betas': {str(i): float(betas[i]) for i in pick},
        'alphasCumprod': {str(i): float(acp[i]) for i in pick},
        'sigmas': {str(i): float(sigmas_all[i]) for i in pick},
        'spacing': {f'{sp}/{s}': spaced(s, sp) for sp in ('compvis', 'leading', 'trailing', 'linspace') for s in (1, 3, 7, 10, 16, 20, 30, 50)},
        'cosine': {'betas': {str(i): float(cos_betas[i]) for i in pick}, 'alphasCumprod': {str(i): float(cos_acp[i]) for i in pick}},
        'linear': {'betas': {str(i): float(lin_betas[i]) for i in pick}, 'alphasCumprod': {str(i): float(lin_acp[i]) for i in pick}},
    }

    # k-diffusion facts for SD's schedule: get_sigmas starts at σ(999) and ends at σ(0) before the 0.
    uni = COMPVIS.get_sigmas(20)
    assert abs(uni[0] - 14.6146) < 1e-4 and abs(uni[-2] - 0.0292) < 1e-4, (uni[0], uni[-2])
    sigmas = {'facts': {'sigmaMax': float(uni[0]), 'sigmaMin': float(uni[-2])}, 'lists': []}
    for table_name, table in (('compvis', COMPVIS), ('lcm', LCM)):
        for kind in (K_TYPES[1:] if table_name == 'compvis' else LCM_TYPES[1:]):
            for n in (1, 7, 20, 50):
                for discard in (False, True):
                    s = sigma_list(kind, n, table, discard)
                    sigmas['lists'].append({'table': table_name, 'schedule': kind, 'steps': n, 'discard': discard,
                                            'sigmas': [float(v) for v in s],
                                            'timesteps': [float(table.model_t(v)) for v in s[:-1]]})
    sigmas['lcmTable'] = [float(v) for v in LCM.sigmas]

    cases = []
    for sampler in list(K_SAMPLERS) + ['ddim', 'plms', 'ddpm', 'unipc']:
        kinds = K_TYPES if sampler in K_SAMPLERS and sampler != 'lcm' else LCM_TYPES if sampler == 'lcm' else ['automatic'] if sampler == 'unipc' else ALPHA_TYPES
        for kind in kinds:
            for steps in ((7, 20, 30, 50) if kind in MAIN_TYPES else (7, 20)):
                cases.append(case(sampler, kind, steps, keep_calls=steps == 7))
        if sampler != 'lcm':
            cases.append(case(sampler, 'automatic', 20, prediction='v_prediction', keep_calls=True))
        cases.append(case(sampler, 'automatic', 20, start=8, keep_calls=True))
    cases.append(case('ddim', 'automatic', 20, eta=0.5))
    cases.append(case('ddim', 'automatic', 7, eta=1.0, start=3, keep_calls=True))
    cases.append(case('unipc', 'automatic', 2, keep_calls=True))
    cases.append(case('unipc', 'automatic', 1, keep_calls=True))
    cases.append(case('plms', 'automatic', 1, keep_calls=True))

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

    for fname, data, indent in (('schedule.json', schedule, 1), ('sigmas.json', sigmas, None),
                                ('trajectories.json', cases, None), ('rng.json', rng, 1)):
        with open(os.path.join(OUT, fname), 'w') as f:
            json.dump(data, f, indent=indent)
            f.write('\n')
    print(f'wrote {len(cases)} trajectories and {len(sigmas["lists"])} σ lists to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
