"""Reference checkpoints for the restricted PyTorch reader (electron/engine/io/checkpoint.ts).

Written with Debian's torch (run with /usr/bin/python3, which has torch 1.13):
    /usr/bin/python3 scripts/reference/make_ckpt.py test/fixtures/ckpt

Each .ckpt is a real torch.save file; <name>.json beside it lists every tensor of the state dict
(dtype, shape, values as float lists) and the non-tensor entries, as torch reads them back.
os-system.ckpt is hostile: loading it with torch.load would run `os.system`; our reader must refuse it.
"""
import collections
import json
import os
import sys
import types

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/ckpt'
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


def dump(name, obj, state_dict):
    path = os.path.join(out, name)
    torch.save(obj, path)
    back = torch.load(path)  # trusted: we wrote it a line above
    sd = back
    for k in state_dict:
        sd = sd[k]
    tensors = {}
    for k, v in sd.items():
        if torch.is_tensor(v):
            tensors[k] = {
                'dtype': str(v.dtype).replace('torch.', ''),
                'shape': list(v.shape),
                'values': v.detach().float().reshape(-1).tolist(),
            }
    with open(os.path.splitext(path)[0] + '.json', 'w') as f:
        json.dump({'tensors': tensors}, f, indent=1)


# 1. The layout our TS writer reproduces byte for byte: a Lightning-style dict with a nested state dict,
#    fp32/fp16/bf16/int64 storages and a transposed view sharing a storage.
a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
sd = collections.OrderedDict()
sd['a'] = a
sd['b'] = a.t()
sd['h'] = torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16)
sd['bf'] = torch.tensor([1.5, -3.0], dtype=torch.bfloat16)
sd['l'] = torch.tensor([1, -2, 2**40], dtype=torch.int64)
dump('basic.ckpt', {'state_dict': sd, 'global_step': 5, 'epoch': 1}, ['state_dict'])

# 2. What real LDM / Lightning checkpoints carry besides tensors.
mck = types.ModuleType('pytorch_lightning.callbacks.model_checkpoint')


class ModelCheckpoint:  # stands in for Lightning's class: only its name is pickled
    pass


ModelCheckpoint.__module__ = 'pytorch_lightning.callbacks.model_checkpoint'
mck.ModelCheckpoint = ModelCheckpoint
sys.modules['pytorch_lightning'] = types.ModuleType('pytorch_lightning')
sys.modules['pytorch_lightning.callbacks'] = types.ModuleType('pytorch_lightning.callbacks')
sys.modules['pytorch_lightning.callbacks.model_checkpoint'] = mck

net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GroupNorm(2, 4))
full = net.state_dict()  # an OrderedDict with _metadata (written with BUILD)
state = collections.OrderedDict()
for k, v in full.items():
    state['model.diffusion_model.' + k] = torch.nn.Parameter(v.clone()) if k.endswith('weight') else v.clone()
big = torch.randn(4, 5)
state['model.slice'] = big[1:3, 1:4]  # storage offset + strides of a non-contiguous view
state['model.row'] = big[2]  # offset into the same (shared) storage
state['model_ema.num_updates'] = torch.tensor(1234, dtype=torch.int32)
state['model_ema.decay'] = torch.tensor(0.9999, dtype=torch.float32)
state['model.empty'] = torch.zeros(0, 3)
state['model.double'] = torch.tensor([1.0 / 3.0], dtype=torch.float64)
state['model.bytes'] = torch.tensor([0, 7, 255], dtype=torch.uint8)
state['model.mask'] = torch.tensor([True, False])
state['model.i8'] = torch.tensor([-5, 5], dtype=torch.int8)
state['model.i16'] = torch.tensor([-300, 300], dtype=torch.int16)
state['model.expanded'] = torch.tensor([1.0, 2.0]).expand(3, 2)  # stride 0
obj = {
    'epoch': 3,
    'global_step': 470000,
    'pytorch-lightning_version': '1.4.2',
    'state_dict': state,
    'callbacks': {ModelCheckpoint: {'best_model_score': np.float64(0.25), 'best_model_path': 'logs/last.ckpt', 'monitor': None}},
    'optimizer_states': [{'state': {}, 'param_groups': [{'lr': 1e-4, 'params': [0, 1]}]}],
    'lr_schedulers': [],
    'np_step': np.int64(7),
    'learning_rate': 1.0e-4,
}
dump('lightning.ckpt', obj, ['state_dict'])

# 3. A plain state dict (top-level, as torch.save(model.state_dict()) writes it).
dump('plain.pt', net.state_dict(), [])

# 4. Hostile: unpickling runs os.system.
class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/ldm-pickle-pwned',))


torch.save({'state_dict': collections.OrderedDict(w=torch.ones(2)), 'payload': Evil()}, os.path.join(out, 'os-system.ckpt'))

# 5. Legacy (non-zip) serialisation.
torch.save({'w': torch.ones(2)}, os.path.join(out, 'legacy.pt'), _use_new_zipfile_serialization=False)
print('wrote', sorted(os.listdir(out)))
