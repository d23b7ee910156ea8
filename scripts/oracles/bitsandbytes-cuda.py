#!/usr/bin/env python3
"""What bitsandbytes' LLM.int8() computes on a real GPU (issue 16): oracles for exprun's bnb-int8.

Usage (on a machine with an NVIDIA GPU, PyTorch, transformers, CuPy and bitsandbytes 0.50.2):
    python3 scripts/oracles/bitsandbytes-cuda.py [--fixture DIR] [--out DIR]
    --fixture  the gpt2-tiny-random fixture (default ../shared/data/gpt2-tiny-random)
    --out      where to write (default Tests/InferenceCoreTests/Oracles)
    --device cpu  a dry run of the script's own code on bitsandbytes' CPU path (no CuPy, a
                  subsampled grid); its figures mean nothing.

bitsandbytes quantizes activations and weights with kInt8VectorQuant (csrc/kernels.cu), whose
scale is `__fdividef(127.0f, absmax)`: 127 times an approximate reciprocal, not IEEE 127 / absmax.
exprun computes 127 · (1/absmax) in IEEE arithmetic (BnbInt8Linear.scale(absmax:)), so where
127·x/absmax sits exactly on k + 1/2 the two can round to different codes. This script measures
how often, directly and in whole models. It writes:

bnb-int8-cuda.safetensors
  `scale`        F32 [31744]: the GPU's __fdividef(127, a) for every positive finite fp16 a
                 (bit patterns 0x0001 ... 0x7BFF), from a CuPy kernel built with --use_fast_math
                 as bitsandbytes is.
  `grid.*`       bitsandbytes' own int8_vectorwise_quant on rows holding every fp16 value up to the
                 row's absmax: where its codes differ from round-half-even(x · 127·(1/a)) (IEEE, what
                 exprun does) and from round-half-even(x · scale[a]) (`scale` above); up to 4096 of
                 the differing (a, x) pairs as fp16 bits with both codes.
  For the three GPT-2 checkpoints of bnb-int8.safetensors (`tiny`, the fixture; `w72-i008`;
  `w72-i02`), logits of transformers + bitsandbytes on CUDA (compute dtype float32, as the
  fixture's oracle was made), last ≤ 4 positions, vocabulary ids 0..1023:
  `<m>.<p>.cuda-t6` / `.cuda-t0`  the prompts of bnb-int8.safetensors (llm_int8_threshold 6 / 0);
  `<m>.sweep.ids`, `<m>.sweep.cuda-t6`  every single-token prompt 0..1023, last position, ids 0..63;
  `<m>.long.ids`, `<m>.long.cuda-t6`  16 random 60-token prompts, last 4 positions, ids 0..63;
  `<m>.CB.L` / `<m>.SCB.L`  the int8 weights bitsandbytes made on the GPU, int8 layer L in module order;
  `<m>.<p>.half-max-rows`, `.tie-rows`, `.cuda-outliers.L`  per int8 layer (threshold 6): rows
                 with an element at exactly half their absmax, rows with an exact tie, the outlier
                 columns bitsandbytes decomposed;
  `layers.L.x` / `layers.L.y`  each int8 layer's input on w72-i02's 60-token prompt (its last 24
                 rows) and that Linear8bitLt's output, bias included, both from the GPU;
  `<m>.<set>.ties` / `.flips`  per prompt, over every int8 layer: activations on an exact tie
                 (127·x/absmax = k + 1/2), and activation codes where bitsandbytes' differ from
                 exprun's rule applied to the same fp16 activations.
bnb-int8-cuda.json  what the script measured (the GPU, versions, the grid, the fixture's oracle
                 check, per checkpoint how many prompts hold a tie and how many codes flipped, and
                 int8's own effect: its largest distance from fp32 over the sweeps' 1,024 ids).
"""
import argparse, json, logging, os, sys, time, warnings

warnings.filterwarnings("ignore")
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
logging.getLogger("transformers").setLevel(logging.ERROR)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ap = argparse.ArgumentParser()
ap.add_argument("--fixture", default=os.path.join(root, "..", "shared", "data", "gpt2-tiny-random"))
ap.add_argument("--out", default=os.path.join(root, "Tests", "InferenceCoreTests", "Oracles"))
ap.add_argument("--device", default="cuda")
args = ap.parse_args()

import torch
from safetensors.torch import load_file, save_file
import bitsandbytes as bnb
import bitsandbytes.functional as F
import transformers
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

assert bnb.__version__ == "0.50.2", f"made with bitsandbytes 0.50.2, found {bnb.__version__}"
dev = args.device
oracles = os.path.join(root, "Tests", "InferenceCoreTests", "Oracles")
started = time.time()
summary = {"bitsandbytes": bnb.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
           "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu (dry run)"}
out = {}


def log(*a):
    print(f"[{time.time() - started:6.1f}s]", *a, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. The GPU's scale for every fp16 absmax.
bits = torch.arange(1, 0x7C00, dtype=torch.int32)
halves = bits.to(torch.int16).view(torch.float16)           # every positive finite fp16, ascending
KERNEL = r"""
extern "C" __global__ void scale(const float* a, float* s, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) s[i] = __fdividef(127.0f, a[i]);
}"""
if dev == "cuda":
    try:
        import cupy
        kernel = cupy.RawKernel(KERNEL, "scale", options=("--use_fast_math",))
        a32 = cupy.asarray(halves.float().numpy())
        s32 = cupy.empty_like(a32)
        kernel(((a32.size + 255) // 256,), (256,), (a32, s32, cupy.int32(a32.size)))
        scale = torch.from_numpy(cupy.asnumpy(s32))
        summary["scale kernel"] = "CuPy RawKernel, --use_fast_math"
    except Exception as e:                   # the same kernel through nvcc and a small host program
        import subprocess, tempfile
        log("CuPy failed:", repr(e)[:200])
        tmp = tempfile.mkdtemp()
        host = KERNEL + r"""
#include <cstdio>
int main() {
    int n = %d; float *a, *s, h[%d];
    FILE* f = fopen("%s/a.bin", "rb"); fread(h, 4, n, f); fclose(f);
    cudaMalloc(&a, 4 * n); cudaMalloc(&s, 4 * n);
    cudaMemcpy(a, h, 4 * n, cudaMemcpyHostToDevice);
    scale<<<(n + 255) / 256, 256>>>(a, s, n);
    cudaMemcpy(h, s, 4 * n, cudaMemcpyDeviceToHost);
    f = fopen("%s/s.bin", "wb"); fwrite(h, 4, n, f); fclose(f);
}""" % (halves.numel(), halves.numel(), tmp, tmp)
        open(f"{tmp}/scale.cu", "w").write(host)
        halves.float().numpy().tofile(f"{tmp}/a.bin")
        subprocess.run(["nvcc", "-O2", "--use_fast_math", "-arch=sm_90", "-o", f"{tmp}/scale", f"{tmp}/scale.cu"], check=True)
        subprocess.run([f"{tmp}/scale"], check=True)
        import numpy
        scale = torch.from_numpy(numpy.fromfile(f"{tmp}/s.bin", dtype=numpy.float32))
        summary["scale kernel"] = "nvcc --use_fast_math -arch=sm_90"
else:
    scale = 127.0 * torch.reciprocal(halves.float())
ieee = 127.0 * torch.reciprocal(halves.float())
out["scale"] = scale.contiguous()
d = scale != ieee
# Does the scale depend on the mantissa alone? (a and 2a: the same scale halved, in the normal range)
normal = (bits >= 0x0400) & (bits < 0x7800)
doubled = scale[(bits[normal] + 0x0400 - 1).long()]
summary["scale"] = {
    "fp16 absmax values": int(bits.numel()),
    "where __fdividef(127, a) differs from IEEE 127·(1/a)": int(d.sum()),
    "of those, larger than IEEE": int((scale > ieee).sum()),
    "largest difference in ulps": int((scale.view(torch.int32) - ieee.view(torch.int32)).abs().max()),
    "scale(2a) == scale(a)/2 for every normal a": bool(torch.equal(doubled, scale[normal] / 2)),
}
log("scale", summary["scale"])

# ---------------------------------------------------------------------------------------------
# 2. The grid: row i holds every positive fp16 value up to halves[i] (its absmax), zeros after.
def round_codes(x, s):
    return torch.round(x.float() * s[:, None]).to(torch.int8)


n = halves.numel()
stride = 1 if dev == "cuda" else 97                      # the dry run takes every 97th row and column
values = halves.to(dev)[::stride]
scale_d, ieee_d = scale.to(dev)[::stride], ieee.to(dev)[::stride]
rows_total = values.numel()
diff_ieee = diff_scale = ties = ties_ieee_wrong = 0
examples = []
chunk = 1024
for r0 in range(0, rows_total, chunk):
    r1 = min(r0 + chunk, rows_total)
    idx = torch.arange(r0, r1, device=dev)
    cols = torch.arange(rows_total, device=dev)
    keep = cols[None, :] <= idx[:, None]
    A = torch.where(keep, values[None, :], torch.zeros((), dtype=torch.float16, device=dev))
    codes, row_stats, _ = F.int8_vectorwise_quant(A, 0.0)
    assert torch.equal(row_stats, values[r0:r1].float()), "each row's absmax is its last value"
    ci, cs = round_codes(A, ieee_d[r0:r1]), round_codes(A, scale_d[r0:r1])
    q = 254 * A.double() / values[r0:r1].double()[:, None]
    tie = (q == torch.round(q)) & (torch.remainder(q, 2) == 1)
    wi, ws = codes != ci, codes != cs
    diff_ieee += int(wi.sum()); diff_scale += int(ws.sum()); ties += int(tie.sum())
    ties_ieee_wrong += int((wi & tie).sum())
    if len(examples) < 4096 and wi.any():
        rr, cc = torch.nonzero(wi, as_tuple=True)
        for a, x, cb, ce in zip(values[r0:r1][rr].view(torch.int16).tolist(), A[rr, cc].view(torch.int16).tolist(),
                                codes[rr, cc].tolist(), ci[rr, cc].tolist()):
            if len(examples) < 4096: examples.append((a, x, cb, ce))
summary["grid"] = {"rows": rows_total, "codes": rows_total * (rows_total + 1) // 2,
                   "exact ties (127·x/a = k + 1/2)": ties,
                   "codes where bitsandbytes differs from IEEE 127·(1/a)": diff_ieee,
                   "of those, on an exact tie": ties_ieee_wrong,
                   "codes where bitsandbytes differs from x · scale[a]": diff_scale}
if examples:
    out["grid.differs"] = torch.tensor(examples, dtype=torch.int32)  # [absmax bits, x bits, bnb code, IEEE code]
log("grid", summary["grid"])
os.makedirs(args.out, exist_ok=True)
save_file(dict(out), os.path.join(args.out, "bnb-int8-cuda.safetensors"))     # kept if a later step fails
json.dump(summary, open(os.path.join(args.out, "bnb-int8-cuda.json"), "w"), indent=1)

# ---------------------------------------------------------------------------------------------
# 3. Whole models: transformers + bitsandbytes on the GPU.
prompts_file = load_file(os.path.join(oracles, "bnb-int8.safetensors"))
models = {"tiny": args.fixture,
          "w72-i008": os.path.join(oracles, "bnb-int8", "w72-i008"),
          "w72-i02": os.path.join(oracles, "bnb-int8", "w72-i02")}
COLUMNS = 1024
SWEEP_COLUMNS = 64          # enough to see a flipped code, which moves every logit


def load(path, threshold=None):
    if threshold is None:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(dev).eval()
    q = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=threshold)
    return AutoModelForCausalLM.from_pretrained(path, quantization_config=q, dtype=torch.float32,
                                                device_map=dev).eval()


def counting_hooks(model, threshold, tally, per_layer=None):
    """Per int8 layer input: exact ties, and codes where bitsandbytes' differ from IEEE
    127·(1/absmax)'s, round half to even, on the same fp16 activations; with `per_layer`, per layer
    the rows holding an element at exactly half their absmax, the rows holding an exact tie, and
    the outlier columns bitsandbytes chose (`state.idx`)."""
    def post(mod, a, y):
        per_layer[-1]["outliers"] = [] if mod.state.idx is None else mod.state.idx.tolist()

    def pre(mod, a):
        x16 = a[0].reshape(-1, a[0].shape[-1]).to(torch.float16)
        codes, stats, _ = F.int8_vectorwise_quant(x16, threshold)
        x = x16.float()
        keep = x.abs() < threshold if threshold > 0 else torch.ones_like(x, dtype=torch.bool)
        absmax = torch.where(keep, x.abs(), torch.zeros_like(x)).max(dim=-1).values
        mine = torch.where(keep, torch.round(x * (127.0 * torch.reciprocal(absmax))[:, None]), torch.zeros_like(x))
        mine = torch.nan_to_num(mine, nan=0.0).to(torch.int8)
        rows = x16.shape[0]
        if rows > 1 and threshold > 0 and (~keep).any():
            mine[:, (~keep).any(dim=0)] = 0
        q = 254 * x.double() / absmax.double()[:, None]
        tie = (q == torch.round(q)) & (torch.remainder(q, 2) == 1) & keep & (absmax[:, None] > 0)
        tally["ties"] += int(tie.sum())
        tally["flips"] += int((codes != mine).sum())
        if per_layer is not None:
            halfmax = (x.abs() == absmax[:, None] / 2) & keep & (absmax[:, None] > 0)
            per_layer.append({"half_max_rows": int(halfmax.any(dim=-1).sum()), "tie_rows": int(tie.any(dim=-1).sum())})
    layers = [m for _, m in model.named_modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    return [m.register_forward_pre_hook(pre) for m in layers] + ([m.register_forward_hook(post) for m in layers] if per_layer is not None else [])


def logits(model, ids, last=4):
    with torch.no_grad():
        return model(torch.tensor([ids], device=dev)).logits[0, -last:, :COLUMNS].float().cpu().contiguous()


def run_set(model, threshold, prompt_list, last, per_layer=None):
    tally = {"ties": 0, "flips": 0}
    hooks = counting_hooks(model, threshold, tally, per_layer)
    rows, ties, flips = [], [], []
    for ids in prompt_list:
        tally["ties"] = tally["flips"] = 0
        rows.append(logits(model, ids, last))
        ties.append(tally["ties"]); flips.append(tally["flips"])
    for h in hooks: h.remove()
    return torch.stack(rows), torch.tensor(ties, dtype=torch.int32), torch.tensor(flips, dtype=torch.int32)


per_model = {}
gen = torch.Generator().manual_seed(16)
for m, path in models.items():
    named = sorted({k.split(".")[1] for k in prompts_file if k.startswith(f"{m}.") and k.endswith(".ids") and k.count(".") == 2} - {"sweep"})
    f32, t6, t0 = load(path), load(path, 6.0), load(path, 0.0)
    rep = {}
    for p in named:
        ids = prompts_file[f"{m}.{p}.ids"].tolist()
        out[f"{m}.{p}.fp32"] = logits(f32, ids)
        for tname, model, thr in (("cuda-t6", t6, 6.0), ("cuda-t0", t0, 0.0)):
            per_layer = []
            lg, ti, fl = run_set(model, thr, [ids], 4, per_layer)
            out[f"{m}.{p}.{tname}"] = lg[0]
            if tname == "cuda-t6":
                out[f"{m}.{p}.half-max-rows"] = torch.tensor([r["half_max_rows"] for r in per_layer], dtype=torch.int32)
                out[f"{m}.{p}.tie-rows"] = torch.tensor([r["tie_rows"] for r in per_layer], dtype=torch.int32)
                for i, r in enumerate(per_layer):
                    out[f"{m}.{p}.cuda-outliers.{i}"] = torch.tensor(r["outliers"], dtype=torch.int64)
            out[f"{m}.{p}.{tname}.ties"], out[f"{m}.{p}.{tname}.flips"] = ti, fl
            rep[f"{p} {tname}"] = {"ties": int(ti[0]), "flips": int(fl[0]),
                                   "max |GPU - transcription|": round(float((lg[0] - prompts_file[f"{m}.{p}.{tname}"]).abs().max()), 7)}
    sweep = list(range(COLUMNS))
    lg, ti, fl = run_set(t6, 6.0, [[t] for t in sweep], 1)
    out[f"{m}.sweep.ids"] = torch.tensor(sweep, dtype=torch.int64)
    out[f"{m}.sweep.cuda-t6"] = lg[:, 0, :SWEEP_COLUMNS].contiguous()
    out[f"{m}.sweep.ties"], out[f"{m}.sweep.flips"] = ti, fl
    f = torch.stack([logits(f32, [t], 1)[0] for t in sweep])
    rep["sweep"] = {"prompts": len(sweep), "with a tie": int((ti > 0).sum()), "with a flipped code": int((fl > 0).sum()),
                    "flipped codes": int(fl.sum()), "int8 vs fp32, max": round(float((lg[:, 0] - f).abs().max()), 6)}
    long_ids = torch.randint(0, COLUMNS, (16, 60), generator=gen)
    lg, ti, fl = run_set(t6, 6.0, long_ids.tolist(), 4)
    out[f"{m}.long.ids"], out[f"{m}.long.ties"], out[f"{m}.long.flips"] = long_ids, ti, fl
    out[f"{m}.long.cuda-t6"] = lg[:, :, :SWEEP_COLUMNS].contiguous()
    fl32 = torch.stack([logits(f32, ids) for ids in long_ids.tolist()])
    rep["long"] = {"prompts": 16, "with a tie": int((ti > 0).sum()), "with a flipped code": int((fl > 0).sum()),
                   "flipped codes": int(fl.sum()), "int8 vs fp32, max": round(float((lg - fl32).abs().max()), 6)}
    for i, (_, mod) in enumerate((n, x) for n, x in t6.named_modules() if isinstance(x, bnb.nn.Linear8bitLt)):
        cb = mod.weight.data if mod.weight.dtype == torch.int8 else mod.state.CB     # the CPU path keeps them in state
        scb = getattr(mod.weight, "SCB", None)
        out[f"{m}.CB.{i}"] = cb.cpu().contiguous()
        out[f"{m}.SCB.{i}"] = (scb if scb is not None else mod.state.SCB).float().cpu().contiguous()
    per_model[m] = rep
    if m == "w72-i02":
        # Layer by layer on bitsandbytes' own activations (the 60-token prompt's last 24 rows as one
        # batch): every int8 layer's input and its Linear8bitLt output, bias included, so that a
        # last-bit difference upstream (LayerNorm, attention, GELU in F32) cannot hide one in the layer.
        inputs, layer_mods = [], [x for _, x in t6.named_modules() if isinstance(x, bnb.nn.Linear8bitLt)]
        hooks = [x.register_forward_pre_hook(lambda mod, a: inputs.append(a[0].reshape(-1, a[0].shape[-1])[36:].clone()))
                 for x in layer_mods]
        logits(t6, prompts_file["w72-i02.p60.ids"].tolist())
        for h in hooks: h.remove()
        decomposed = []
        for i, (mod, x) in enumerate(zip(layer_mods, inputs)):
            with torch.no_grad():
                y = mod(x)
            out[f"layers.{i}.x"], out[f"layers.{i}.y"] = x.float().cpu().contiguous(), y.float().cpu().contiguous()
            decomposed.append(0 if mod.state.idx is None else int(mod.state.idx.numel()))
        summary["w72-i02.p60.layers"] = {"rows": 24, "outlier columns per layer": decomposed}
    log(m, json.dumps(rep))
    del f32, t6, t0
summary["models"] = per_model

# The fixture's own CUDA oracle, made on another GPU by the data's authors: does this GPU agree?
ref = load_file(os.path.join(args.fixture, "reference-bnb-logits.safetensors"))
meta = json.load(open(os.path.join(args.fixture, "reference-meta.json")))
check = {}
for t in (0, 6):
    model = load(args.fixture, float(t))
    for pname, ids in meta["prompts"].items():
        key = f"int8-t{t}.logits.{pname}"
        if key not in ref: continue
        with torch.no_grad():
            lg = model(torch.tensor([ids], device=dev)).logits[0].float().cpu()
        check[key] = float((lg - ref[key]).abs().max())
summary["this GPU vs the fixture's CUDA oracle"] = check
log("fixture oracle", check)

save_file(out, os.path.join(args.out, "bnb-int8-cuda.safetensors"))
summary["seconds"] = round(time.time() - started, 1)
with open(os.path.join(args.out, "bnb-int8-cuda.json"), "w") as f:
    json.dump(summary, f, indent=1)
print(json.dumps(summary, indent=1))
