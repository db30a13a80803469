"""A reference checkpoint carrying numpy arrays, numpy scalars and torch.device values besides its
tensors, for the restricted reader (electron/engine/io/pickle.ts rebuilds them as inert data).

    /usr/bin/python3 scripts/reference/make_ckpt_numpy.py test/fixtures/ckpt

Writes numpy-device.ckpt and numpy-device.json (the plain values torch.load gives back).
"""
import collections
import json
import os
import sys

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/ckpt'
os.makedirs(out, exist_ok=True)
state = collections.OrderedDict(w=torch.tensor([1.0, -2.0]))
obj = {
    'state_dict': state,
    'loss_history': np.array([0.5, 0.25, 0.125], dtype=np.float32),
    'grid': np.array([[1, 2], [3, 4]], dtype=np.int64),
    'flags': np.array([True, False]),
    'scale': np.array(0.18215, dtype=np.float64),  # a 0-dim array
    'best': np.float32(1.5),
    'device': torch.device('cuda', 0),
    'map_location': torch.device('cpu'),
}
path = os.path.join(out, 'numpy-device.ckpt')
torch.save(obj, path)
back = torch.load(path)  # trusted: written a line above


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, torch.device):
        return str(v)
    return v


with open(os.path.splitext(path)[0] + '.json', 'w') as f:
    json.dump({k: plain(v) for k, v in back.items() if k != 'state_dict'}, f, indent=1)
print('wrote', path)
