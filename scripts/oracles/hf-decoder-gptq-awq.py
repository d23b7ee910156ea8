#!/usr/bin/env python3
"""Oracles for GPTQ / AWQ checkpoints of the Llama family in the Hugging Face layout: small random
Llama and Qwen2 models (transformers), their linear layers round-to-nearest quantized in groups,
packed by the real packers from PyPI — AutoGPTQ 0.7.1's `QuantLinear.pack` (qlinear_cuda, the
GPTQ v1 layout that GPTQModel also writes) and AutoAWQ 0.2.7's `WQLinear_GEMM.from_linear` — and
read back by the same packages' dequantizers (AutoGPTQ's torch forward path, AutoAWQ's
`dequantize_gemm`). transformers then runs each model with those dequantized weights as a plain
FP32 model, which gives the logits.

Checkpoints (Tests/InferenceCoreTests/Oracles/hf-quant/<name>/: config.json with
quantization_config, quantize_config.json for GPTQ, model.safetensors):
  llama-gptq-g24-act      Llama (tied head, grouped-query), GPTQ v1 (`gptq`), 4-bit, symmetric,
                          group 24 (divides neither 64 nor 32: partial last groups), 2 layers, act-order
                          (g_idx from a random column order, not monotonic)
  qwen2-gptq_v2-g32-static  Qwen2 (Q/K/V biases, separate head), GPTQ v2 (`gptq_v2`, zeros as they
                          are), 4-bit, asymmetric, group 32, act-order with static groups, 1 layer
  llama-awq-g32           Llama, AWQ GEMM, 4-bit, group 32, zero points, 1 layer
Beside each, <name>.oracle.safetensors: `tokens` i32 [T], `logits` f32 [T, vocab] (transformers,
FP32, the dequantized weights), and per linear layer `<name>.weight` f32 [out, in] as the
package's dequantizer gives it.

Unquantized tensors are stored in F32 and the biases of quantized layers in fp16 (as the packers
keep them). The v2 file's qzeros come from the same `pack` given zeros + 1 (it stores zero − 1), so they
hold the zeros as they are.

Packages (none is needed by the tests):
    ~/.cache/exprun/pyenv/bin/pip install --no-deps --target ~/.cache/exprun/autogptq auto-gptq==0.7.1
    ~/.cache/exprun/pyenv/bin/pip install --no-deps --target ~/.cache/exprun/autoawq autoawq==0.2.7.post3
    ~/.cache/exprun/pyenv/bin/python scripts/oracles/hf-decoder-gptq-awq.py   (from the repository root)
"""
import importlib.util
import json
import math
import os
import sys
import types

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

HOME = os.path.expanduser("~/.cache/exprun")
root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
out_dir = os.path.join(root, "Tests/InferenceCoreTests/Oracles/hf-quant")


def load_file_module(name, path, stub_packages=()):
    """Imports one source file of a package without running the package's __init__ (which pulls in
    CUDA-only or dataset dependencies): the packages above it are empty stand-ins that only say
    where their files are."""
    for p in stub_packages:
        m = types.ModuleType(p)
        m.__path__ = [os.path.join(HOME, "autoawq", *p.split("."))]
        sys.modules.setdefault(p, m)
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


gptq_linear = load_file_module("qlinear_cuda", HOME + "/autogptq/auto_gptq/nn_modules/qlinear/qlinear_cuda.py")
awq_gemm = load_file_module("awq.modules.linear.gemm", HOME + "/autoawq/awq/modules/linear/gemm.py",
                            stub_packages=["awq", "awq.modules", "awq.modules.linear"])
awq_packing = sys.modules["awq.utils.packing_utils"]

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
# AutoGPTQ's QuantLinear needs outputs in multiples of 32 (k/v: 2 heads of 16).
SHAPE = dict(vocab_size=96, hidden_size=64, intermediate_size=32, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5)


def rtn(w, g_idx, groups, bits, sym):
    """Round-to-nearest per (row, group) with GPTQ's min/max quantizer; fp16 scales. Returns codes
    [out, in], scales [groups, out] (fp16 values as f32), zeros [groups, out] (int)."""
    out, n = w.shape
    maxq = 2 ** bits - 1
    scales = torch.zeros(groups, out)
    zeros = torch.zeros(groups, out, dtype=torch.int64)
    codes = torch.zeros(out, n, dtype=torch.int64)
    for g in range(groups):
        cols = (g_idx == g).nonzero().flatten()
        x = w[:, cols]
        xmin = torch.minimum(x.min(1).values, torch.zeros(out))
        xmax = torch.maximum(x.max(1).values, torch.zeros(out))
        if sym:
            xmax = torch.maximum(xmin.abs(), xmax)
            xmin = -xmax
        s = ((xmax - xmin) / maxq).half().float()
        z = torch.full((out,), (maxq + 1) // 2, dtype=torch.int64) if sym else torch.round(-xmin / s).long().clamp(0, maxq)
        scales[g], zeros[g] = s, z
        codes[:, cols] = torch.clamp(torch.round(x / s[:, None]) + z[:, None], 0, maxq).long()
    return codes, scales, zeros


def dequantized_linear(codes, scales, zeros, g_idx, bias):
    """An FP32 nn.Linear holding scale · (code − zero): what the packers are given."""
    out, n = codes.shape
    lin = torch.nn.Linear(n, out, bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(scales[g_idx, :].t() * (codes - zeros[g_idx, :].t()).float())
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def make(name, family, method, group_size, layers, sym=True, act_order=False, static_groups=False, v2=False, seed=0):
    torch.manual_seed(seed)
    if family == "llama":
        config = LlamaConfig(**SHAPE, num_hidden_layers=layers, tie_word_embeddings=True, initializer_range=0.2)
        model = LlamaForCausalLM(config)
    else:
        config = Qwen2Config(**SHAPE, num_hidden_layers=layers, tie_word_embeddings=False, initializer_range=0.2)
        model = Qwen2ForCausalLM(config)
    model.eval()
    with torch.no_grad():   # norms away from 1 and biases away from 0, so that both are checked
        for n_, p in model.named_parameters():
            if "norm" in n_ or n_.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.3 + (1 if "norm" in n_ else 0))
    bits = 4
    tensors, oracle = {}, {}
    for n_, p in model.state_dict().items():
        layer = next((l for l in LINEARS if f".{l}." in n_), None)
        if layer is None and not (config.tie_word_embeddings and n_ == "lm_head.weight"):
            tensors[n_] = p.detach().clone().float().contiguous()
    for l in range(config.num_hidden_layers):
        for layer in LINEARS:
            prefix = f"model.layers.{l}.{layer}"
            lin = model.get_submodule(prefix)
            w = lin.weight.detach().float()
            out, n = w.shape
            gs = group_size
            groups = math.ceil(n / gs)
            if act_order and not static_groups:
                perm = torch.randperm(n)
                g_idx = torch.zeros(n, dtype=torch.int64)
                g_idx[perm] = torch.arange(n) // gs
            else:
                g_idx = torch.arange(n) // gs
            codes, scales, zeros = rtn(w, g_idx, groups, bits, sym)
            bias = lin.bias.detach().half().float() if lin.bias is not None else None
            plain = dequantized_linear(codes, scales, zeros, g_idx, bias)
            if method == "gptq":
                q = gptq_linear.QuantLinear(bits, gs, n, out, bias is not None, weight_dtype=torch.float32)
                q.pack(plain, scales.t(), zeros.t().clone(), g_idx.int())
                # The real dequantizer (the torch path of forward) on the identity: W transposed.
                with torch.no_grad():
                    deq = q(torch.eye(n)).t().contiguous()
                    if bias is not None:
                        deq -= bias[:, None]
                tensors[prefix + ".qweight"] = q.qweight.contiguous()
                tensors[prefix + ".qzeros"] = q.qzeros.contiguous()
                if v2:
                    # Only its qzeros: given zeros + 1, pack also shifts the codes it derives.
                    q2 = gptq_linear.QuantLinear(bits, gs, n, out, bias is not None, weight_dtype=torch.float32)
                    q2.pack(plain, scales.t(), zeros.t().clone() + 1, g_idx.int())
                    tensors[prefix + ".qzeros"] = q2.qzeros.contiguous()
                    unpacked = torch.stack([(q2.qzeros >> (4 * k)) & 15 for k in range(8)], -1).reshape(zeros.shape)
                    assert torch.equal(unpacked.long(), zeros), prefix
                tensors[prefix + ".scales"] = q.scales.half().contiguous()
                tensors[prefix + ".g_idx"] = q.g_idx.int().contiguous()
                if bias is not None:
                    tensors[prefix + ".bias"] = q.bias.half().contiguous()
            else:
                q = awq_gemm.WQLinear_GEMM.from_linear(plain, bits, gs, scales=scales.contiguous(), zeros=zeros.contiguous())
                # fp16 scales as f32, so that the product is exact
                deq = awq_packing.dequantize_gemm(q.qweight, q.qzeros, q.scales.float(), bits, gs).t().contiguous()
                tensors[prefix + ".qweight"] = q.qweight.contiguous()
                tensors[prefix + ".qzeros"] = q.qzeros.contiguous()
                tensors[prefix + ".scales"] = q.scales.half().contiguous()
                if bias is not None:
                    tensors[prefix + ".bias"] = q.bias.half().contiguous()
            # The packers' round trip must give back exactly what they were given.
            assert torch.equal(deq, plain.weight.detach()), prefix
            oracle[prefix + ".weight"] = deq
            with torch.no_grad():
                lin.weight.copy_(deq)
                if bias is not None:
                    lin.bias.copy_(bias)
    tokens = torch.randint(0, config.vocab_size, (12,), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        logits = model(tokens[None, :]).logits[0].float()
    oracle["tokens"] = tokens.int()
    oracle["logits"] = logits.contiguous()

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    save_file(oracle, os.path.join(out_dir, name + ".oracle.safetensors"), metadata={"format": "pt"})
    cfg = json.loads(config.to_json_string())
    cfg["architectures"] = [type(model).__name__]
    if method == "gptq":
        q = {"quant_method": "gptq", "bits": bits, "group_size": group_size, "desc_act": act_order, "sym": sym,
             "static_groups": static_groups, "true_sequential": True, "damp_percent": 0.01,
             "checkpoint_format": "gptq_v2" if v2 else "gptq", "pack_dtype": "int32"}
        with open(os.path.join(d, "quantize_config.json"), "w") as f:
            json.dump(q, f, indent=2)
    else:
        q = {"quant_method": "awq", "bits": bits, "group_size": group_size, "zero_point": True, "version": "gemm",
             "modules_to_not_convert": None}
    cfg["quantization_config"] = q
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print(name, "logit range", float(logits.min()), float(logits.max()))


if __name__ == "__main__":
    make("llama-gptq-g24-act", "llama", "gptq", 24, 2, sym=True, act_order=True, seed=1)
    make("qwen2-gptq_v2-g32-static", "qwen2", "gptq", 32, 1, sym=False, act_order=True, static_groups=True, v2=True, seed=2)
    make("llama-awq-g32", "llama", "awq", 32, 1, sym=False, seed=3)
