#!/usr/bin/env python3
"""The reference GPTQ (IST-DASLab/gptq's unmodified `gptq.py` + `quant.py`) on GPT-2 124M with
random weights, driven block by block and true-sequentially as its `llama.py` drives Llama (GPT-2's
groups: attn.c_attn | attn.c_proj | mlp.c_fc | mlp.c_proj), on the CPU in float32: the peer that
scripts/bench-gptq times exprun against. Speed only: the weights are transformers' random
initialisation and the calibration windows random token ids of the same count.

Usage: bench-gptq-reference.py --reference DIR [--threads 2] [--samples 128] [--tokens 512]
                               [--group-size 128]
  DIR: a checkout of https://github.com/IST-DASLab/gptq (commit 2d65066 was used for the oracles).
Needs: torch and transformers (~/.cache/exprun/pyenv has both; see BRIEF / README).
Prints one line `reference: total T s, hessians H s, fasterquant F s, forward P s, peak RSS M MiB, CPU C s`
(C: user + system time of the process, model set-up included).
"""
import argparse, resource, sys, time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--reference", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--samples", type=int, default=128)
ap.add_argument("--tokens", type=int, default=512)
ap.add_argument("--group-size", type=int, default=128)
args = ap.parse_args()

import torch
import transformers

sys.path.insert(0, args.reference)
import gptq as reference  # noqa: E402  (the reference's own module)
from quant import Quantizer  # noqa: E402

torch.set_num_threads(args.threads)
# The reference synchronizes CUDA after each layer; on a CPU-only torch that call raises.
torch.cuda.synchronize = lambda *a, **k: None
torch.cuda.empty_cache = lambda *a, **k: None

torch.manual_seed(0)
model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
ids = torch.randint(0, model.config.vocab_size, (args.samples, args.tokens))
blocks = model.transformer.h
groups = [["attn.c_attn"], ["attn.c_proj"], ["mlp.c_fc"], ["mlp.c_proj"]]

timer = {"hessians": 0.0, "fasterquant": 0.0, "forward": 0.0}
start = time.time()
with torch.no_grad():
    # The first block's inputs, as the reference's Catcher takes them (with the block's keyword arguments).
    inputs, captured = [], {}

    class Catcher(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, hidden, *rest, **kwargs):
            inputs.append(hidden)
            captured.update(kwargs)
            raise ValueError

    blocks[0] = Catcher(blocks[0])
    for j in range(args.samples):
        try:
            model(ids[j:j + 1])
        except ValueError:
            pass
    blocks[0] = blocks[0].block
    inps = torch.cat(inputs)
    outs = torch.zeros_like(inps)

    def run_block(block):
        for j in range(args.samples):
            outs[j] = block(inps[j:j + 1], **captured)[0]

    for i, block in enumerate(blocks):
        modules = dict(block.named_modules())
        for names in groups:
            engines = {}
            for name in names:
                engines[name] = reference.GPTQ(modules[name])
                engines[name].quantizer = Quantizer()
                engines[name].quantizer.configure(4, perchannel=True, sym=True, mse=False)

            def hook(name):
                def add(_, inp, out):
                    t = time.time()
                    engines[name].add_batch(inp[0].data, out.data)
                    timer["hessians"] += time.time() - t
                return add

            handles = [modules[n].register_forward_hook(hook(n)) for n in names]
            t = time.time()
            run_block(block)
            timer["forward"] += time.time() - t
            for h in handles:
                h.remove()
            for name in names:
                t = time.time()
                engines[name].fasterquant(percdamp=0.01, groupsize=args.group_size, actorder=False, static_groups=False)
                timer["fasterquant"] += time.time() - t
                engines[name].free()
        t = time.time()
        run_block(block)
        timer["forward"] += time.time() - t
        inps, outs = outs, inps
total = time.time() - start
timer["forward"] -= timer["hessians"]  # the hooks ran inside the forward passes
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(f"reference: total {total:.1f} s, hessians {timer['hessians']:.1f} s, fasterquant {timer['fasterquant']:.1f} s, "
      f"forward {timer['forward']:.1f} s, peak RSS {peak:.0f} MiB, CPU {cpu:.1f} s")
