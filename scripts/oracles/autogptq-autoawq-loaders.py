#!/usr/bin/env python3
"""Directories that `exprun quantize --to gptq|awq` writes, loaded by AutoGPTQ's and AutoAWQ's own
loaders on the CPU and run there: the packages' logits are the oracle for exprun's on the same bytes.

For each case below, exprun (release build) quantizes a small seeded model into a Hugging Face
directory; the packages then load that directory as a user would, unmodified —
    AutoGPTQForCausalLM.from_quantized(DIR, device="cpu", use_triton=False, disable_exllama=True,
                                       disable_exllamav2=True, use_safetensors=True, torch_dtype=torch.float32)
    AutoAWQForCausalLM.from_quantized(DIR, fuse_layers=False, device_map={"": "cpu"}, torch_dtype=torch.float32)
— and run a forward pass over the case's tokens. Without its CUDA extension AutoGPTQ's QuantLinear
(qlinear_cuda with act-order, qlinear_cuda_old without) unpacks the codes with torch bit operations
and multiplies in float32. AutoAWQ on a machine without CUDA forces its IPEX kernel (awq/models/
base.py: `use_ipex = use_ipex or best_device in ["cpu", "xpu:0"]`, ImportError without
intel_extension_for_pytorch); WQLinear_IPEX hands qweight/qzeros/scales to IPEX's weight-only int4
linear, which computes in bf16 (IPEX's default lowp_mode).

Written to Tests/InferenceCoreTests/Oracles/hf-quant-loaders/:
  cases.json               per case: exprun's arguments, the sha256 of every file exprun wrote, the
                           loader, the QuantLinear class it built, the tokens, the tolerances, and
                           how far `exprun logits` was from the package when this was made
  <case>.safetensors       `tokens` i32 [T], `logits` f32 [T, vocab] (the package's forward)
Tests/EndToEndTests/PackageLoaderEndToEndTests.swift runs exprun's commands again: the files must be
byte-identical (same sha256), and `exprun logits DIR --quant fp32` (F32 activations) within
atol + rtol·|logit| of the package, `--quant as-stored` (the packed codes' kernel, q8 activations)
within a relative RMS error, both with the same top-1 token at every position.

Also recorded in cases.json (`findings`), each checked again whenever the script runs:
  - GPT-2 with AutoGPTQ: gpt2 is supported, but a tied checkpoint without `lm_head.weight` (what
    transformers' save_pretrained writes, and exprun) loads with an all-zero embedding: AutoGPTQ
    builds the model on the CPU, ties lm_head to wte, and accelerate's load_checkpoint_in_model then
    `retie_parameters` to the first tied name, lm_head.weight, which the file does not hold
    (AutoGPTQ's own save_quantized writes both names). The logits are all 0.
  - Asymmetric GPTQ: exprun writes `checkpoint_format: gptq_v2` (zeros as they are; v1's zero − 1
    cannot hold a zero of 0), which AutoGPTQ 0.7.1 predates: it ignores the field ("ignoring unknown
    parameter") and reads every zero point as v1, one too high; the logits are unrelated.
  - AutoAWQ has no gpt2 model class; IPEX's int4 prepack fails on rows with a single group
    (in_features == group_size), so the AWQ case uses groups of 16 on the 32-wide fixture.

Packages: AutoGPTQ 0.7.1 and AutoAWQ 0.2.7 import transformers 4.x (AutoGPTQ needs
`transformers.modeling_utils.no_init_weights`, gone in 5.x); IPEX 2.8.0 (PyPI has 2.6-2.8) needs
torch 2.8, for which PyPI has only the CUDA build (it runs on the CPU; 5.8 GiB with its libraries).
So three extra target directories, put before the shared environment's packages by the script:

    PIP="$HOME/.cache/exprun/pyenv/bin/pip install --no-deps"; C=~/.cache/exprun
    $PIP --target $C/autogptq auto-gptq==0.7.1
    $PIP --target $C/autoawq autoawq==0.2.7.post3
    $PIP --target $C/hf4 transformers==4.46.3 tokenizers==0.20.3 huggingface_hub==0.26.5 \
        accelerate==0.34.2 peft==0.13.2 datasets==3.1.0 pyarrow dill==0.3.8 xxhash multiprocess==0.70.16 \
        pandas aiohttp aiosignal frozenlist multidict yarl propcache attrs aiohappyeyeballs rouge gekko \
        zstandard python-dateutil pytz tzdata six
    $PIP --target $C/ipex-torch28 intel-extension-for-pytorch==2.8.0
    $PIP --target $C/torch28 torch==2.8.0 nvidia-cuda-nvrtc-cu12==12.8.93 nvidia-cuda-runtime-cu12==12.8.90 \
        nvidia-cuda-cupti-cu12==12.8.90 nvidia-cudnn-cu12==9.10.2.21 nvidia-cublas-cu12==12.8.4.1 \
        nvidia-cufft-cu12==11.3.3.83 nvidia-curand-cu12==10.3.9.90 nvidia-cusolver-cu12==11.7.3.90 \
        nvidia-cusparse-cu12==12.5.8.93 nvidia-cusparselt-cu12==0.7.1 nvidia-nccl-cu12==2.27.3 \
        nvidia-nvtx-cu12==12.8.90 nvidia-nvjitlink-cu12==12.8.93 nvidia-cufile-cu12==1.13.1.3
    swift build -c release --product exprun
    ~/.cache/exprun/pyenv/bin/python scripts/oracles/autogptq-autoawq-loaders.py   (repository root)
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HOME = os.path.expanduser("~/.cache/exprun")
# The packages each loader runs with, before the shared environment's own.
STACKS = {"autogptq": ["hf4", "autogptq"], "autoawq": ["torch28", "ipex-torch28", "hf4", "autoawq"]}


def load_and_run(loader, directory, tokens, out):
    """In a child process with the loader's stack: the package's logits over `tokens` into `out`,
    the QuantLinear classes it built on stdout."""
    import torch
    from safetensors.torch import save_file
    if loader == "autogptq":
        from auto_gptq import AutoGPTQForCausalLM
        model = AutoGPTQForCausalLM.from_quantized(directory, device="cpu", use_triton=False, disable_exllama=True,
                                                   disable_exllamav2=True, use_safetensors=True, torch_dtype=torch.float32)
    else:
        from awq import AutoAWQForCausalLM
        model = AutoAWQForCausalLM.from_quantized(directory, fuse_layers=False, device_map={"": "cpu"}, torch_dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0].float().contiguous()
    save_file({"tokens": torch.tensor(tokens, dtype=torch.int32), "logits": logits}, out)
    classes = sorted({f"{type(m).__module__}.{type(m).__name__}" for m in model.modules() if hasattr(m, "qweight")})
    wte = getattr(getattr(model.model, "transformer", None), "wte", None)
    print(json.dumps({"classes": classes, "embedding_abs_max": None if wte is None else wte.weight.abs().max().item()}))


if len(sys.argv) > 1 and sys.argv[1] == "--load":
    load_and_run(sys.argv[2], sys.argv[3], [int(t) for t in sys.argv[4].split(",")], sys.argv[5])
    sys.exit(0)

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
exprun = os.path.join(root, ".build", "release", "exprun")
out_dir = os.path.join(root, "Tests/InferenceCoreTests/Oracles/hf-quant-loaders")
env = dict(os.environ)
env.setdefault("EXPRUN_DATA_DIR", os.path.abspath(os.path.join(root, "..", "shared", "data")))

LLAMA = "Tests/InferenceCoreTests/Oracles/decoders/llama-linear.gguf"
GPT2 = "../shared/data/gpt2-tiny-random"
CALIBRATION = ["--calibration", "wikitext-2-raw:train", "--samples", "2", "--tokens", "16", "--threads", "1"]
LLAMA_TOKENS = [1, 259, 87, 289, 309, 307, 308, 259]
# name: (arguments after `exprun quantize` but --out, loader, tokens, (atol, rtol) for --quant fp32,
# relative RMS bound for as-stored). AutoGPTQ's torch path runs in float32; AutoAWQ's IPEX kernel in
# bf16. as-stored quantizes the activations to q8 blocks (as llama.cpp's q4_0 does): about 1% RMS.
CASES = {
    "llama-gptq-g32-act": ([LLAMA, "--to", "gptq", "--group-size", "32", "--desc-act"] + CALIBRATION, "autogptq", LLAMA_TOKENS, (0.02, 1e-3), 0.03),
    "llama-gptq-g16": ([LLAMA, "--to", "gptq", "--group-size", "16"] + CALIBRATION, "autogptq", LLAMA_TOKENS, (0.02, 1e-3), 0.03),
    "llama-awq-g16": ([LLAMA, "--to", "awq", "--group-size", "16"] + CALIBRATION, "autoawq", LLAMA_TOKENS, (0.3, 5e-3), 0.03),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def quantize(args, directory):
    subprocess.run([exprun, "quantize"] + args + ["--out", directory], check=True, env=env, cwd=root, capture_output=True)
    return {f: sha256(os.path.join(directory, f)) for f in sorted(os.listdir(directory))}


def package(loader, directory, tokens, out):
    child = dict(env, PYTHONPATH=":".join([os.path.join(HOME, p) for p in STACKS[loader]] + [env.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--load", loader, directory, ",".join(map(str, tokens)), out],
                       env=child, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])


def exprun_logits(directory, tokens, quant):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.safetensors")
        subprocess.run([exprun, "logits", directory, "--quant", quant, "--tokens", ",".join(map(str, tokens)),
                        "--out", out, "--threads", "1"], check=True, env=env, cwd=root, capture_output=True)
        return load_file(out)["logits"].float()


os.makedirs(out_dir, exist_ok=True)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
summary = {"producer": f"scripts/oracles/autogptq-autoawq-loaders.py (exprun {commit}): auto-gptq 0.7.1 with transformers 4.46.3, "
                       f"torch {torch.__version__}; autoawq 0.2.7.post3 with intel-extension-for-pytorch 2.8.0, torch 2.8.0; CPU",
           "cases": {}, "findings": {}}
with tempfile.TemporaryDirectory() as work:
    for name, (args, loader, tokens, (atol, rtol), rms_bound) in CASES.items():
        directory = os.path.join(work, name)
        files = quantize(args, directory)
        oracle = os.path.join(out_dir, name + ".safetensors")
        info = package(loader, directory, tokens, oracle)
        reference = load_file(oracle)["logits"]
        made = {}
        for quant in ["fp32", "as-stored"]:
            ours = exprun_logits(directory, tokens, quant)
            d = (ours - reference).abs()
            made[quant] = {"max_abs_difference": round(d.max().item(), 6),
                           "worst_over_tolerance": round((d / (atol + rtol * reference.abs())).max().item(), 4),
                           "relative_rms": round(((ours - reference).pow(2).sum() / reference.pow(2).sum()).sqrt().item(), 6),
                           "same_top1": (ours.argmax(-1) == reference.argmax(-1)).float().mean().item()}
        print(f"{name}: {loader} via {', '.join(info['classes'])}; logits {reference.min().item():.2f} .. {reference.max().item():.2f}; "
              + "; ".join(f"exprun {q}: max |Δ| {m['max_abs_difference']:.3g}, relative RMS {m['relative_rms']:.3g}, "
                          f"same top-1 {m['same_top1']:.0%}" for q, m in made.items()))
        assert made["fp32"]["worst_over_tolerance"] <= 1 and made["as-stored"]["relative_rms"] <= rms_bound, made
        assert made["fp32"]["same_top1"] == 1 and made["as-stored"]["same_top1"] == 1, made
        summary["cases"][name] = {"arguments": args, "files": files, "loader": loader, "quant_linear": info["classes"],
                                  "tokens": tokens, "atol": atol, "rtol": rtol, "as_stored_relative_rms": rms_bound,
                                  "made_with": made}

    # What the packages do with the other directories, recorded as they answer.
    directory = os.path.join(work, "gpt2-gptq-g32")
    quantize([GPT2, "--to", "gptq", "--group-size", "32"] + CALIBRATION, directory)
    info = package("autogptq", directory, [464, 2068, 7586, 21831], os.path.join(work, "gpt2.safetensors"))
    logits = load_file(os.path.join(work, "gpt2.safetensors"))["logits"]
    summary["findings"]["autogptq_gpt2_tied_without_lm_head"] = (
        f"loads via {', '.join(info['classes'])}; wte |max| after loading {info['embedding_abs_max']}, "
        f"logits |max| {logits.abs().max().item()} (exprun's wte |max| {load_file(os.path.join(directory, 'model.safetensors'))['transformer.wte.weight'].abs().max().item():.4f})")
    # Asymmetric GPTQ: exprun writes it as gptq_v2 (zeros as they are: v1's zero − 1 cannot hold a
    # zero of 0); AutoGPTQ 0.7.1 predates v2, ignores `checkpoint_format` and reads v1.
    directory = os.path.join(work, "llama-gptq-g16-asym")
    quantize([LLAMA, "--to", "gptq", "--group-size", "16", "--no-sym"] + CALIBRATION, directory)
    package("autogptq", directory, LLAMA_TOKENS, os.path.join(work, "asym.safetensors"))
    reference = load_file(os.path.join(work, "asym.safetensors"))["logits"]
    ours = exprun_logits(directory, LLAMA_TOKENS, "fp32")
    fmt = json.load(open(os.path.join(directory, "quantize_config.json")))["checkpoint_format"]
    summary["findings"]["autogptq_asymmetric_" + fmt] = (
        f"exprun --quant fp32 against AutoGPTQ: relative RMS {((ours - reference).pow(2).sum() / reference.pow(2).sum()).sqrt().item():.3f}, "
        f"same top-1 {(ours.argmax(-1) == reference.argmax(-1)).float().mean().item():.0%} (every zero point read one too high)")
    for name, args in [("autoawq_gpt2", [GPT2, "--to", "awq", "--group-size", "32"]),
                       ("autoawq_llama_single_group_rows", [LLAMA, "--to", "awq", "--group-size", "32"])]:
        directory = os.path.join(work, name)
        quantize(args + CALIBRATION, directory)
        try:
            package("autoawq", directory, [1, 2, 3], os.path.join(work, name + ".safetensors"))
            summary["findings"][name] = "loaded and ran"
        except RuntimeError as e:
            summary["findings"][name] = str(e)
    for k, v in summary["findings"].items():
        print(f"{k}: {v}")
with open(os.path.join(out_dir, "cases.json"), "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")
