#!/usr/bin/env python3
"""Cross-check of the UniPC fixtures against the UniPC authors' code (not part of CI).

Usage: /usr/bin/python3 scripts/reference/unipc_crosscheck.py PATH/TO/uni_pc.py

Loads uni_pc.py from the UniPC repository you provide (wl-zhao/UniPC, example/stable-diffusion/ldm/models/
diffusion/uni_pc/uni_pc.py, which A1111's modules/models/diffusion/uni_pc follows) under Debian's PyTorch
in float64, and runs every UniPC case of test/fixtures/samplers/trajectories.json as A1111 calls it:
NoiseScheduleVP('discrete') over SD's ᾱ, multistep, bh1, order 3 (at most the step count), time-uniform,
lower order at the end, the model called at t_input = (t − 1/N)·1000, a v output turned into ε with ᾱ at
the truncated t_input (A1111's CompVisTimestepsVDenoiser). Prints the worst relative difference.
Measured 2026-11-30 on wl-zhao/UniPC HEAD: 8 cases (7, 20, 30, 50, 2 and 1 steps, v-prediction, img2img),
worst 3.4e-15.
"""
import builtins, contextlib, importlib.util, io, json, math, os, sys
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
spec = importlib.util.spec_from_file_location('uni_pc', sys.argv[1])
U = importlib.util.module_from_spec(spec)
spec.loader.exec_module(U)

T = 1000
betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
acp = torch.cumprod(1 - betas, 0)
here = os.path.dirname(os.path.abspath(__file__))
cases = json.load(open(os.path.join(here, '..', '..', 'test', 'fixtures', 'samplers', 'trajectories.json')))
worst = 0.0
n = 0
for c in cases:
    if c['sampler'] != 'unipc':
        continue
    ns = U.NoiseScheduleVP('discrete', alphas_cumprod=acp)

    def model(x, t_input, cond, v=c['prediction'] == 'v_prediction'):
        k = torch.arange(8, dtype=torch.float64).reshape(1, 2, 2, 2)  # the toy latent as [B, C, H, W]
        out = 0.1 * x + torch.sin(0.01 * t_input[:, None, None, None] + 0.5 * k)
        if v:
            a = acp[t_input.long()][:, None, None, None]
            out = a.sqrt() * out + (1 - a).sqrt() * x
        return out

    fn = U.model_wrapper(model, ns, model_type='noise', guidance_type='uncond')
    steps = c['nSteps']
    start = c['startIndex']
    times = torch.linspace(1.0, 1.0 / T, steps + 1)
    init = torch.tensor(c['initNoise']).reshape(1, 2, 2, 2)
    if start == 0:
        x = init
    else:
        t = times[start].reshape(1)
        x0 = torch.tensor(c['x0']).reshape(1, 2, 2, 2)
        x = ns.marginal_alpha(t)[:, None, None, None] * x0 + ns.marginal_std(t)[:, None, None, None] * init
    sampler = U.UniPC(fn, ns, predict_x0=True, thresholding=False, variant='bh1')
    with contextlib.redirect_stdout(io.StringIO()):  # the authors' sample() prints each step's order
        out = sampler.sample(x, steps=steps - start, t_start=float(times[start]), t_end=1.0 / T, order=min(3, steps - start),
                             skip_type='time_uniform', method='multistep', lower_order_final=True)
    ref = np.asarray(c['final'])
    err = float(np.max(np.abs(out.reshape(-1).numpy() - ref) / np.maximum(1, np.abs(ref))))
    worst = max(worst, err)
    n += 1
print(f'checked {n} UniPC cases against the UniPC authors\' code: worst relative difference {worst:.2e}')
