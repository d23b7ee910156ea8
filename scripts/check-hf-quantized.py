#!/usr/bin/env python3
"""Checks a GPTQ / AWQ directory that `exprun quantize --to gptq|awq` wrote for a Llama-family model
against transformers: config.json must load with AutoConfig (quantization_config included), every
quantized layer is dequantized by the real packages' own code (AutoGPTQ's QuantLinear torch path for
gptq / gptq_v2, AutoAWQ's dequantize_gemm for AWQ GEMM), the model is built by transformers from the
config as a plain FP32 model with those weights (strict state_dict: every tensor name must fit), and
its logits on TOKENS are compared with `exprun logits DIR --quant fp32` and `--quant as-stored`.

    ~/.cache/exprun/pyenv/bin/pip install --no-deps --target ~/.cache/exprun/autogptq auto-gptq==0.7.1
    ~/.cache/exprun/pyenv/bin/pip install --no-deps --target ~/.cache/exprun/autoawq autoawq==0.2.7.post3
    ~/.cache/exprun/pyenv/bin/python scripts/check-hf-quantized.py DIR [TOKENS, e.g. 1,2,3]   (repository root)
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM



def packers():
    """The packages' modules, loaded as the oracle script loads them (without their __init__)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracles", "hf-decoder-gptq-awq.py")
    spec = importlib.util.spec_from_file_location("hf_decoder_gptq_awq", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


directory = sys.argv[1]
tokens = [int(t) for t in (sys.argv[2] if len(sys.argv) > 2 else "1,100,200,300,400,500,600,700").split(",")]
config = AutoConfig.from_pretrained(directory)
q = config.quantization_config if isinstance(config.quantization_config, dict) else config.quantization_config.to_dict()
print("AutoConfig:", type(config).__name__, "quant_method", q["quant_method"], "bits", q["bits"], "group_size", q["group_size"])
state = load_file(os.path.join(directory, "model.safetensors"))
plain = {}
bits, gs = q["bits"], q["group_size"]
pk = packers()
gptq, awq_packing = pk.gptq_linear, pk.awq_packing
for name, t in state.items():
    if not name.endswith(".qweight"):
        if not any(name.endswith(s) for s in (".qzeros", ".scales", ".g_idx")):
            plain[name] = t.float()
        continue
    p = name[: -len(".qweight")]
    if q["quant_method"] == "gptq":
        n, out = state[p + ".g_idx"].shape[0], t.shape[1]
        m = gptq.QuantLinear(bits, gs, n, out, False, weight_dtype=torch.float32)
        qzeros = state[p + ".qzeros"]
        if q.get("checkpoint_format", "gptq") == "gptq_v2":
            # AutoGPTQ reads v1 (zero − 1 stored): subtract one, as GPTQModel converts v2 on load.
            z = torch.stack([(qzeros >> (bits * k)) & (2 ** bits - 1) for k in range(32 // bits)], -1).reshape(qzeros.shape[0], -1) - 1
            qzeros = torch.zeros_like(qzeros)
            for k in range(32 // bits):
                qzeros |= (z[:, k::32 // bits] & (2 ** bits - 1)).int() << (bits * k)
        m.qweight, m.qzeros, m.scales, m.g_idx = t, qzeros, state[p + ".scales"].float(), state[p + ".g_idx"]
        with torch.no_grad():
            plain[p + ".weight"] = m(torch.eye(n)).t().contiguous()
    else:
        plain[p + ".weight"] = awq_packing.dequantize_gemm(t, state[p + ".qzeros"], state[p + ".scales"].float(), bits, gs).t().contiguous()
del config.quantization_config
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
missing, unexpected = model.load_state_dict(plain, strict=False)
missing = [m for m in missing if not (config.tie_word_embeddings and m == "lm_head.weight")]
assert not missing and not unexpected, (missing, unexpected)
model.tie_weights()
model.eval()
with torch.no_grad():
    reference = model(torch.tensor([tokens])).logits[0].float()
exprun = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "exprun")
for quant in ["fp32", "as-stored"]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.safetensors")
        subprocess.run([exprun, "logits", directory, "--quant", quant, "--tokens", ",".join(map(str, tokens)), "--out", out, "--threads", "2"], check=True)
        ours = load_file(out)["logits"].float()
    d = (ours - reference).abs().max().item()
    rms = ((ours - reference).pow(2).sum() / reference.pow(2).sum()).sqrt().item()
    top = (ours.argmax(-1) == reference.argmax(-1)).float().mean().item()
    print(f"exprun --quant {quant}: max |Δlogit| {d:.4g}, relative RMS {rms:.4g}, same top-1 at {top:.0%} of {len(tokens)} positions "
          f"(logits {reference.min().item():.2f} .. {reference.max().item():.2f})")
