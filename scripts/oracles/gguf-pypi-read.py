#!/usr/bin/env python3
"""What PyPI's gguf package (llama.cpp's own Python GGUF library) reads in the files `exprun
quantize` writes, recorded for the tests (Tests/ExpRunKitTests/GGUFExportOracleTests.swift).

Usage:  ~/.cache/exprun/pyenv/bin/python scripts/oracles/gguf-pypi-read.py
Needs:  numpy and gguf (python3 -m pip install numpy gguf), a release build of exprun
        (.build/release/exprun, or EXPRUN=path) and ../shared/data/gpt2-tiny-random.
Writes: Tests/InferenceCoreTests/Oracles/gguf-pypi-read.json

For each type (f32, f16, q8_0, q4_0, q5_0, q4_k, q6_k) it runs `exprun quantize gpt2-tiny-random
--to TYPE --out F`, reads F with gguf.GGUFReader and records: the file's sha256 (the tests write
the same file and must get the same bytes, so everything below holds for theirs), the metadata as
gguf decodes it (scalars by value, arrays by length and sha256 of their JSON), and per tensor the
name, shape, ggml type, offset and size gguf finds, the sha256 of its bytes, and from
`gguf.quants.dequantize`: the sum and sum of squares (float64) and the largest difference from the
checkpoint's own weight (the fixture read with numpy). The script fails if a tensor's values are
farther from the checkpoint than the type's error allows, or anything is missing.
"""
import hashlib, importlib.metadata, json, os, struct, subprocess, sys, tempfile

import numpy as np
import gguf

root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
hf = os.path.join(root, "..", "shared", "data", "gpt2-tiny-random")
exprun = os.environ.get("EXPRUN", os.path.join(root, ".build", "release", "exprun"))
out_path = os.path.join(root, "Tests", "InferenceCoreTests", "Oracles", "gguf-pypi-read.json")


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]; head = json.loads(f.read(n)); base = 8 + n
        tensors = {}
        for k, v in head.items():
            if k == "__metadata__": continue
            f.seek(base + v["data_offsets"][0]); raw = f.read(v["data_offsets"][1] - v["data_offsets"][0])
            tensors[k.removeprefix("transformer.")] = np.frombuffer(raw, dtype="<f4").reshape(v["shape"])
        return tensors


ckpt = safetensors(os.path.join(hf, "model.safetensors"))


def checkpoint_tensor(name):
    if name == "token_embd.weight": return ckpt["wte.weight"]
    if name == "position_embd.weight": return ckpt["wpe.weight"]
    if name.startswith("output_norm."): return ckpt["ln_f." + name.split(".")[1]]
    _, i, part, kind = name.split(".")
    hfname = {"attn_norm": "ln_1", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj",
              "ffn_norm": "ln_2", "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"}[part]
    t = ckpt[f"h.{i}.{hfname}.{kind}"]
    return t.T if kind == "weight" and part not in ("attn_norm", "ffn_norm") else t   # Conv1D [in, out] → [out, in]


# Largest |dequantized − checkpoint| a type may show on these weights (absmax ≈ 0.3).
tolerance = {"F32": 0, "F16": 1e-3, "Q8_0": 0.01, "Q6_K": 0.03, "Q5_0": 0.05, "Q4_0": 0.15, "Q4_K": 0.12}


def field_value(field):
    types = field.types
    if types and types[0] == gguf.GGUFValueType.ARRAY:
        if types[1] == gguf.GGUFValueType.STRING:
            items = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        else:
            items = [field.parts[i].tolist()[0] for i in field.data]
        return {"array": types[1].name, "count": len(items),
                "sha256": hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()}
    if types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    v = field.parts[field.data[0]].tolist()[0]
    return float(np.float32(v)) if types[0] == gguf.GGUFValueType.FLOAT32 else v


report = {"gguf": importlib.metadata.version("gguf"), "files": {}}
with tempfile.TemporaryDirectory() as tmp:
    for t in ("f32", "f16", "q8_0", "q4_0", "q5_0", "q4_k", "q6_k"):
        path = os.path.join(tmp, f"tiny-{t}.gguf")
        subprocess.run([exprun, "quantize", hf, "--to", t, "--out", path], check=True, stdout=subprocess.DEVNULL)
        data = open(path, "rb").read()
        r = gguf.GGUFReader(path)
        meta = {k: {"type": f.types[0].name, "value": field_value(f)} for k, f in r.fields.items()
                if not k.startswith("GGUF.")}
        tensors = []
        for ti in r.tensors:
            values = gguf.quants.dequantize(ti.data, ti.tensor_type).astype(np.float64).reshape(-1)
            ref = checkpoint_tensor(ti.name).astype(np.float64).reshape(-1)
            assert values.size == ref.size, ti.name
            err = float(np.abs(values - ref).max())
            assert err <= tolerance[ti.tensor_type.name], (t, ti.name, err)
            raw = np.asarray(ti.data).tobytes()
            assert len(raw) == int(ti.n_bytes), ti.name
            tensors.append({"name": ti.name, "shape": [int(x) for x in ti.shape], "type": ti.tensor_type.name,
                            "offset": int(ti.data_offset), "bytes": int(ti.n_bytes),
                            "sha256": hashlib.sha256(raw).hexdigest(),
                            "sum": float(values.sum()), "sum_squares": float((values * values).sum()),
                            "max_error_vs_checkpoint": err})
        report["files"][t] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                              "version": int(r.fields["GGUF.version"].parts[-1][0]),
                              "alignment": int(r.alignment), "metadata": meta, "tensors": tensors}
        print(f"{t}: {len(tensors)} tensors, {len(meta)} metadata keys, {len(data)} bytes", file=sys.stderr)

with open(out_path, "w") as f:
    json.dump(report, f, indent=1, ensure_ascii=False)
