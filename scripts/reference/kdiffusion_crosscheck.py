#!/usr/bin/env python3
"""Cross-check of test/fixtures/samplers/trajectories.json against k-diffusion's own code (not part of CI).

Usage: /usr/bin/python3 scripts/reference/kdiffusion_crosscheck.py K_DIFFUSION_CHECKOUT [--float64-t]

Imports k_diffusion/sampling.py and external.py from a k-diffusion checkout you provide (nothing of it is
kept here) under Debian's PyTorch in float64, with stand-ins for the imports these samplers do not use
(torchsde, torchdiffeq, tqdm) and scipy's quad replaced by 20-point Gauss-Legendre (exact for LMS's
cubic polynomials). Runs every σ-space case of the fixtures (A1111's schedule functions written out for
SGM Uniform, KL Optimal, Simple and DDIM) with the fixtures' noise draws and prints the worst relative
difference per schedule type. k-diffusion casts t to float32 in t_to_sigma; --float64-t takes that out.
Measured 2026-11-30 on crowsonkb/k-diffusion 4601bf0: 1.3e-12 with --float64-t, 7.7e-6 without.
"""
import os, tempfile
_stubs = tempfile.mkdtemp()
for name, body in {
    'scipy/__init__.py': '',
    'scipy/integrate.py': 'import numpy as np\ndef quad(fn, a, b, epsrel=None):\n    xs, ws = np.polynomial.legendre.leggauss(20)\n    h = (b - a) / 2; m = (a + b) / 2\n    return (sum(w * fn(m + h * x) for x, w in zip(xs, ws)) * h, 0.0)\n',
    'torchsde/__init__.py': 'BrownianTree = None\n',
    'torchdiffeq/__init__.py': 'odeint = None\n',
    'tqdm/__init__.py': 'def trange(n, disable=None):\n    return range(n)\ndef tqdm(*a, **k):\n    return None\n',
    'tqdm/auto/__init__.py': 'from tqdm import trange, tqdm\n',
}.items():
    os.makedirs(os.path.dirname(os.path.join(_stubs, name)), exist_ok=True)
    open(os.path.join(_stubs, name), 'w').write(body)
import json, math, sys
sys.path[:0] = [_stubs, sys.argv[1]]
import numpy as np, torch
torch.set_default_dtype(torch.float64)
import types
sys.modules['k_diffusion'] = pkg = types.ModuleType('k_diffusion')
pkg.__path__ = [os.path.join(sys.argv[1], 'k_diffusion')]
utils = types.ModuleType('k_diffusion.utils')
utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
sys.modules['k_diffusion.utils'] = pkg.utils = utils
from k_diffusion import sampling as S, external as E
if '--float64-t' in sys.argv:
    def _t_to_sigma(self, t):
        low, high = t.floor().long(), t.ceil().long()
        w = t - t.floor()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()
    E.DiscreteSchedule.t_to_sigma = _t_to_sigma

T = 1000
betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
acp = torch.cumprod(1 - betas, 0)

class Model:
    alphas_cumprod = acp
    def apply_model(self, x, t, **kw):
        k = torch.arange(x.shape[-1], dtype=torch.float64)
        return 0.1 * x + torch.sin(0.01 * t[:, None] + 0.5 * k)

class VModel(E.DiscreteVDDPMDenoiser):
    def __init__(self, m):
        super().__init__(m, acp, quantize=False)
    def get_v(self, x, t, **kw):
        return self.inner_model.apply_model(x, t)

def noise_sampler_factory():
    j = [0]
    def ns(*_):
        k = np.arange(8, dtype=np.float64)
        v = np.float32(1.3 * np.sin(1.7 * j[0] + 0.9 * k + 0.3)).astype(np.float64)
        j[0] += 1
        return torch.tensor(v)[None]
    return ns, j

FN = {'euler': 'sample_euler', 'euler_a': 'sample_euler_ancestral', 'lms': 'sample_lms', 'heun': 'sample_heun',
      'dpm2': 'sample_dpm_2', 'dpm2_a': 'sample_dpm_2_ancestral', 'dpmpp_2s_a': 'sample_dpmpp_2s_ancestral',
      'dpmpp_sde': 'sample_dpmpp_sde', 'dpmpp_2m': 'sample_dpmpp_2m', 'dpmpp_2m_sde': 'sample_dpmpp_2m_sde',
      'dpmpp_3m_sde': 'sample_dpmpp_3m_sde', 'dpmpp_2m_sde_heun': 'sample_dpmpp_2m_sde'}
AUTO = {'dpmpp_2m': 'karras', 'dpmpp_sde': 'karras', 'dpmpp_2m_sde': 'exponential', 'dpmpp_2m_sde_heun': 'exponential', 'dpmpp_2s_a': 'karras',
        'dpmpp_3m_sde': 'exponential', 'dpm2': 'karras', 'dpm2_a': 'karras'}
DISCARD = {'dpm2', 'dpm2_a', 'dpmpp_3m_sde'}

def sigmas_for(wrap, kind, n):
    smin, smax = wrap.sigmas[0].item(), wrap.sigmas[-1].item()
    if kind == 'uniform': return wrap.get_sigmas(n)
    if kind == 'karras': return S.get_sigmas_karras(n, smin, smax)
    if kind == 'exponential': return S.get_sigmas_exponential(n, smin, smax)
    if kind == 'polyexponential': return S.get_sigmas_polyexponential(n, smin, smax)
    if kind == 'sgm_uniform':  # A1111 modules/sd_schedulers.py sgm_uniform
        start = wrap.sigma_to_t(torch.tensor(smax)); end = wrap.sigma_to_t(torch.tensor(smin))
        sigs = [wrap.t_to_sigma(ts) for ts in torch.linspace(start, end, n + 1)[:-1]]
        return torch.tensor(sigs + [0.0])
    if kind == 'kl_optimal':
        a_min = torch.arctan(torch.tensor(smin)); a_max = torch.arctan(torch.tensor(smax))
        i = torch.arange(n + 1); return torch.tan(i / n * a_min + (1.0 - i / n) * a_max)
    if kind == 'simple':
        ss = len(wrap.sigmas) / n
        return torch.tensor([float(wrap.sigmas[-(1 + int(x * ss))]) for x in range(n)] + [0.0])
    if kind == 'ddim_uniform':
        sigs, ss, x = [], max(len(wrap.sigmas) // n, 1), 1
        while x < len(wrap.sigmas): sigs.append(float(wrap.sigmas[x])); x += ss
        return torch.tensor(sigs[::-1] + [0.0])
    return None

cases = json.load(open(os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'samplers', 'trajectories.json')))
worst, n_checked, skipped = 0.0, 0, set(); W = {}
for c in cases:
    if c['sampler'] not in FN: skipped.add(c['sampler']); continue
    kind = c['schedule'] if c['schedule'] != 'automatic' else AUTO.get(c['sampler'], 'uniform')
    base = E.CompVisDenoiser(Model())
    wrap = VModel(Model()) if c['prediction'] == 'v_prediction' else base
    steps = c['steps'] + (1 if c['sampler'] in DISCARD else 0)
    sig = sigmas_for(base, kind, steps)
    if sig is None: skipped.add(kind); continue
    if c['sampler'] in DISCARD: sig = torch.cat([sig[:-2], sig[-1:]])
    start = c['startIndex']
    init = torch.tensor(c['initNoise'])[None]
    x = init * sig[0] if start == 0 else torch.tensor(c['x0'])[None] + sig[start] * init
    fn = getattr(S, FN[c['sampler']])
    ns, j = noise_sampler_factory()
    import inspect
    kw = {'noise_sampler': ns} if 'noise_sampler' in inspect.signature(fn).parameters else {}
    if c['sampler'] == 'dpmpp_2m_sde_heun':
        kw['solver_type'] = 'heun'
    out = fn(wrap, x, sig[start:], disable=True, **kw)[0].numpy()
    ref = np.asarray(c['final'])
    err = float(np.max(np.abs(out - ref) / np.maximum(1, np.abs(ref))))
    assert j[0] == c['noiseDraws'], (c['name'], j[0], c['noiseDraws'])
    worst = max(worst, err); n_checked += 1
    W[kind] = max(W.get(kind, 0), err)
print(f'checked {n_checked} k-diffusion cases against k-diffusion itself: worst relative difference {worst:.2e}; skipped {sorted(skipped)}')
print({k: f'{v:.1e}' for k, v in W.items()})
