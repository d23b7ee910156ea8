// GPTQ and AWQ checkpoints in the Hugging Face layout, read and written: what GPTQModel /
// AutoGPTQ and AutoAWQ save and transformers loads. config.json's `quantization_config` (GPTQ
// also writes quantize_config.json) says which; per quantized linear layer `P` (the name of its
// weight without `.weight`):
//
//   GPTQ   P.qweight  I32 [in·bits/32, out]   codes packed along the input: the codes of one output
//                                             column form a little-endian bit stream, code i at bit
//                                             bits·i (4-bit: word i/8, bits 4·(i%8); 3-bit codes
//                                             straddle words)
//          P.qzeros   I32 [groups, out·bits/32]  zero points packed the same way along the outputs;
//                                             `checkpoint_format: gptq` (v1) stores zero − 1 (a
//                                             symmetric 4-bit file reads 0x77777777), `gptq_v2` the zero
//          P.scales   F16 [groups, out]
//          P.g_idx    I32 [in]                group of each input (act-order: not monotonic)
//          P.bias     F16 [out]
//   AWQ    P.qweight  I32 [in, out/8]         4-bit only; nibble k of word j holds output 8j + [0,2,4,6,1,3,5,7][k]
//   (GEMM) P.qzeros   I32 [groups, out/8]     the same order, zeros as they are
//          P.scales   F16 [groups, out]       group of input i = i / group_size
//
//   w[o][i] = scale[g][o] · (code − zero),  g = g_idx[i]
//
// Files mislabelled v1/v2 exist: a symmetric file's zeros must all be 2^(bits−1), and no zero can
// exceed 2^bits − 1; zeros one off from that are reported with the label that would fit.
// Written files follow the Python `safetensors` writer byte for byte (tensors sorted by dtype, F32
// then I32 then F16, then by name; header padded with spaces to 8 bytes).
import Foundation

/// A checkpoint's `quantization_config`.
public struct QuantizedCheckpointConfig: Sendable, Equatable {
    public enum Method: String, Sendable { case gptq, awq }
    public var method: Method
    public var bits: Int
    /// -1: one group per row.
    public var groupSize: Int
    public var descAct = false
    public var symmetric = true
    /// GPTQ: true for `gptq_v2` (zeros as they are), false for `gptq` (zeros minus one).
    public var v2 = false
    public var staticGroups = false
    public var trueSequential = true
    public var dampPercent = 0.01
    public var source: String

    public init(method: Method, bits: Int, groupSize: Int, descAct: Bool = false, symmetric: Bool = true, v2: Bool = false, source: String = "") {
        self.method = method; self.bits = bits; self.groupSize = groupSize; self.descAct = descAct
        self.symmetric = symmetric; self.v2 = v2; self.source = source
    }

    /// The `quantization_config` of `directory` (config.json, else quantize_config.json), nil if none.
    public static func read(directory: String) throws -> QuantizedCheckpointConfig? {
        let dir = URL(fileURLWithPath: directory)
        let configPath = dir.appendingPathComponent("config.json").path
        var object: [String: ParsedJSON]?
        var source = configPath
        if let data = FileManager.default.contents(atPath: configPath),
           case let .object(root) = try ParsedJSON.parse(data, source: configPath),
           case let .object(q)? = root["quantization_config"] {
            object = q
            source += " (quantization_config)"
        } else {
            let qc = dir.appendingPathComponent("quantize_config.json").path
            if let data = FileManager.default.contents(atPath: qc) {
                guard case let .object(q) = try ParsedJSON.parse(data, source: qc) else { throw CoreError.file(qc, "not a JSON object") }
                object = q; source = qc
            }
        }
        guard let q = object else { return nil }
        func int(_ k: String) throws -> Int? {
            switch q[k] { case nil, .null?: return nil; case let .int(v)?: return v
            default: throw CoreError.file(source, "\(k) must be an integer, found \(q[k]!)") }
        }
        func bool(_ k: String) throws -> Bool? {
            switch q[k] { case nil, .null?: return nil; case let .bool(v)?: return v
            default: throw CoreError.file(source, "\(k) must be true or false, found \(q[k]!)") }
        }
        func string(_ k: String) throws -> String? {
            switch q[k] { case nil, .null?: return nil; case let .string(v)?: return v
            default: throw CoreError.file(source, "\(k) must be a string, found \(q[k]!)") }
        }
        guard let method = try string("quant_method") else { throw CoreError.file(source, "no quant_method (expected \"gptq\" or \"awq\")") }
        guard let m = Method(rawValue: method.lowercased()) else {
            throw CoreError.unsupported("\(source): quant_method '\(method)' (exprun reads gptq and awq checkpoints)")
        }
        let bits = try int("bits") ?? int("w_bit") ?? 4
        let gs = try int("group_size") ?? int("q_group_size") ?? 128
        var c = QuantizedCheckpointConfig(method: m, bits: bits, groupSize: gs, source: source)
        guard GPTQConfiguration.supportedBits.contains(bits) else {
            throw CoreError.file(source, "bits must be one of 2, 3, 4, 8; found \(bits)")
        }
        guard gs == -1 || gs > 0 else { throw CoreError.file(source, "group_size must be -1 or positive; found \(gs)") }
        switch m {
        case .gptq:
            c.descAct = try bool("desc_act") ?? false
            c.symmetric = try bool("sym") ?? true
            c.staticGroups = try bool("static_groups") ?? false
            c.trueSequential = try bool("true_sequential") ?? true
            if case let .double(d)? = q["damp_percent"] { c.dampPercent = d }
            switch try string("checkpoint_format") ?? string("format") ?? "gptq" {
            case "gptq": c.v2 = false
            case "gptq_v2": c.v2 = true
            case let other: throw CoreError.unsupported("\(source): checkpoint_format '\(other)' (exprun reads gptq and gptq_v2)")
            }
        case .awq:
            let version = try string("version") ?? "gemm"
            guard version.lowercased() == "gemm" else {
                throw CoreError.unsupported("\(source): AWQ version '\(version)' (exprun reads the GEMM layout)")
            }
            guard try bool("zero_point") ?? true else {
                throw CoreError.unsupported("\(source): AWQ without zero points (zero_point: false)")
            }
            guard bits == 4 else { throw CoreError.file(source, "AWQ GEMM checkpoints hold 4-bit codes; bits is \(bits)") }
            c.symmetric = false
        }
        return c
    }

    /// The `quantization_config` object as the tools write it (key order as GPTQModel / AutoAWQ).
    public var json: [(String, String)] {
        switch method {
        case .gptq:
            return [("quant_method", "\"gptq\""), ("bits", "\(bits)"), ("group_size", "\(groupSize)"), ("desc_act", "\(descAct)"),
                    ("sym", "\(symmetric)"), ("static_groups", "\(staticGroups)"), ("true_sequential", "\(trueSequential)"),
                    ("damp_percent", "\(dampPercent)"), ("checkpoint_format", v2 ? "\"gptq_v2\"" : "\"gptq\""), ("pack_dtype", "\"int32\"")]
        case .awq:
            return [("quant_method", "\"awq\""), ("bits", "\(bits)"), ("group_size", "\(groupSize)"), ("zero_point", "true"),
                    ("version", "\"gemm\""), ("modules_to_not_convert", "null")]
        }
    }
}

public enum GPTQCheckpoint {
    /// AWQ's order of outputs within a word: nibble k holds output 8j + order[k].
    static let awqOrder = [0, 2, 4, 6, 1, 3, 5, 7]

    /// Reads the quantized linear layer `prefix` (`[out, in]`) of `ckpt`.
    public static func linear(_ ckpt: SafeTensorsCheckpoint, prefix: String, out: Int, in n: Int,
                              config c: QuantizedCheckpointConfig) throws -> GroupQuantizedLinear {
        let file = ckpt.displayName
        func tensor(_ suffix: String, _ dtype: [DType], _ shape: [Int]) throws -> Tensor {
            let name = prefix + "." + suffix
            guard let e = ckpt.entry(name) else { throw CoreError.file(file, "missing tensor '\(name)' (a \(c.method.rawValue) checkpoint stores qweight, qzeros, scales\(c.method == .gptq ? ", g_idx" : "") per layer)") }
            guard dtype.contains(e.dtype) else {
                throw CoreError.file(file, "tensor '\(name)' is \(e.dtype.rawValue); expected \(dtype.map(\.rawValue).joined(separator: " or "))")
            }
            guard e.shape == shape else {
                throw CoreError.file(file, "tensor '\(name)' has shape \(e.shape), but \(c.source) (bits \(c.bits), group_size \(c.groupSize)) and the layer's [\(out) outputs, \(n) inputs] imply \(shape)")
            }
            return try ckpt.tensor(name)
        }
        let bits = c.bits
        let gs = c.groupSize == -1 ? n : c.groupSize
        let groups = (n + gs - 1) / gs
        let scales = try tensor("scales", [.f16], [groups, out])
        let scaleBits = Array(UnsafeBufferPointer(start: scales.raw.assumingMemoryBound(to: UInt16.self), count: groups * out))
        var zeros = [UInt8](repeating: 0, count: groups * out)
        let gIdx: [Int32]
        let codes: (Int, Int) -> UInt8
        switch c.method {
        case .gptq:
            guard (n * bits) % 32 == 0, (out * bits) % 32 == 0 else {
                throw CoreError.file(file, "layer '\(prefix)' has \(n) inputs and \(out) outputs; \(bits)-bit GPTQ packing needs multiples of \(32 / Self.gcd(32, bits))")
            }
            let qweight = try tensor("qweight", [.i32], [n * bits / 32, out])
            let qzeros = try tensor("qzeros", [.i32], [groups, out * bits / 32])
            let g = try tensor("g_idx", [.i32], [n])
            gIdx = Array(UnsafeBufferPointer(start: g.raw.assumingMemoryBound(to: Int32.self), count: n))
            if let bad = gIdx.firstIndex(where: { $0 < 0 || Int($0) >= groups }) {
                throw CoreError.file(file, "'\(prefix).g_idx'[\(bad)] = \(gIdx[bad]), outside the \(groups) groups of scales")
            }
            let zw = qzeros.raw.assumingMemoryBound(to: UInt32.self), zrow = out * bits / 32
            var stored = [Int](repeating: 0, count: groups * out)
            for gr in 0..<groups { for o in 0..<out { stored[gr * out + o] = Int(bitField(zw + gr * zrow, stride: 1, index: o, bits: bits)) } }
            try checkZeros(stored, config: c, layer: prefix, file: file)
            for k in stored.indices { zeros[k] = UInt8(c.v2 ? stored[k] : stored[k] + 1) }
            let qw = qweight.raw.assumingMemoryBound(to: UInt32.self)
            codes = { o, i in UInt8(bitField(qw + o, stride: out, index: i, bits: bits)) }
        case .awq:
            guard out % 8 == 0 else { throw CoreError.file(file, "layer '\(prefix)' has \(out) outputs; AWQ packs 8 per word") }
            guard n % gs == 0 else { throw CoreError.file(file, "layer '\(prefix)': group_size \(gs) does not divide its \(n) inputs") }
            let qweight = try tensor("qweight", [.i32], [n, out / 8])
            let qzeros = try tensor("qzeros", [.i32], [groups, out / 8])
            gIdx = (0..<n).map { Int32($0 / gs) }
            let zw = qzeros.raw.assumingMemoryBound(to: UInt32.self)
            for gr in 0..<groups { for o in 0..<out { zeros[gr * out + o] = awqNibble(zw + gr * (out / 8), o) } }
            let qw = qweight.raw.assumingMemoryBound(to: UInt32.self)
            codes = { o, i in awqNibble(qw + i * (out / 8), o) }
        }
        return try GroupQuantizedLinear(out: out, in: n, bits: bits, groupSize: c.groupSize, format: c.method.rawValue,
                                        gIdx: gIdx, scalesByGroup: scaleBits, zerosByGroup: zeros, code: codes)
    }

    /// The code at `index` of a little-endian bit stream of `bits`-bit fields held in 32-bit words
    /// `stride` apart.
    @inline(__always)
    static func bitField(_ words: UnsafePointer<UInt32>, stride: Int, index: Int, bits: Int) -> UInt32 {
        let bit = bits * index, w = bit / 32, shift = bit % 32
        var v = UInt32(littleEndian: words[w * stride]) >> shift
        if shift + bits > 32 { v |= UInt32(littleEndian: words[(w + 1) * stride]) << (32 - shift) }
        return v & UInt32((1 << bits) - 1)
    }

    @inline(__always)
    static func awqNibble(_ row: UnsafePointer<UInt32>, _ o: Int) -> UInt8 {
        let k = awqOrder.firstIndex(of: o % 8)!
        return UInt8((UInt32(littleEndian: row[o / 8]) >> (4 * k)) & 15)
    }

    /// Zero points as stored must be possible under the file's label; mislabelled v1/v2 files are named.
    static func checkZeros(_ stored: [Int], config c: QuantizedCheckpointConfig, layer: String, file: String) throws {
        let maxq = (1 << c.bits) - 1, mid = 1 << (c.bits - 1)
        let actual = stored.map { c.v2 ? $0 : $0 + 1 }
        let label = c.v2 ? "gptq_v2 (zeros stored as they are)" : "gptq (v1: zeros stored minus one)"
        if c.symmetric, let bad = actual.first(where: { $0 != mid }) {
            let fits = actual.allSatisfy { $0 == mid + (c.v2 ? -1 : 1) }
            throw CoreError.file(file, "layer '\(layer)': checkpoint_format is \(label) and sym is true, so every zero point should be \(mid), but one is \(bad)" +
                                 (fits ? "; the zeros fit checkpoint_format \(c.v2 ? "gptq" : "gptq_v2"): the file is mislabelled (fix checkpoint_format in its config)" : ""))
        }
        if let bad = actual.first(where: { $0 > maxq }) {
            throw CoreError.file(file, "layer '\(layer)': a zero point reads \(bad) under checkpoint_format \(label), which \(c.bits) bits cannot hold" +
                                 (c.v2 ? "" : "; the file is probably gptq_v2 mislabelled as gptq (fix checkpoint_format in its config)"))
        }
    }

    // MARK: writing

    /// The tensors of quantized layer `prefix` in `c`'s layout (bias not included).
    public static func tensors(of w: GroupQuantizedLinear, prefix: String, config c: QuantizedCheckpointConfig) -> [(name: String, tensor: Tensor)] {
        let out = w.outFeatures, n = w.inFeatures, bits = w.bits, groups = w.groups
        func words(_ count: Int) -> Tensor { Tensor(dtype: .i32, shape: [count], storage: Storage(byteCount: count * 4)) }
        func reshaped(_ t: Tensor, _ shape: [Int]) -> Tensor { Tensor(dtype: t.dtype, shape: shape, storage: t.storage) }
        let scales = Tensor(dtype: .f16, shape: [groups, out], storage: Storage(byteCount: groups * out * 2))
        let sp = scales.storage.base.assumingMemoryBound(to: UInt16.self)
        for g in 0..<groups { for o in 0..<out { sp[g * out + o] = w.scaleBits(o, g).littleEndian } }
        switch c.method {
        case .gptq:
            let qweight = words(n * bits / 32 * out), qzeros = words(groups * out * bits / 32)
            let qw = qweight.storage.base.assumingMemoryBound(to: UInt32.self), zw = qzeros.storage.base.assumingMemoryBound(to: UInt32.self)
            for o in 0..<out { for i in 0..<n { setField(qw + o, stride: out, index: i, bits: bits, value: UInt32(w.code(o, i))) } }
            let zrow = out * bits / 32, mask = (1 << bits) - 1
            for g in 0..<groups {
                for o in 0..<out {
                    let z = Int(w.zero(o, g)) - (c.v2 ? 0 : 1)
                    setField(zw + g * zrow, stride: 1, index: o, bits: bits, value: UInt32(z & mask))
                }
            }
            let gIdx = words(n)
            let gp = gIdx.storage.base.assumingMemoryBound(to: Int32.self)
            for i in 0..<n { gp[i] = w.gIdx[i].littleEndian }
            return [(prefix + ".g_idx", gIdx), (prefix + ".qweight", reshaped(qweight, [n * bits / 32, out])),
                    (prefix + ".qzeros", reshaped(qzeros, [groups, out * bits / 32])), (prefix + ".scales", scales)]
        case .awq:
            let qweight = words(n * out / 8), qzeros = words(groups * out / 8)
            let qw = qweight.storage.base.assumingMemoryBound(to: UInt32.self), zw = qzeros.storage.base.assumingMemoryBound(to: UInt32.self)
            for i in 0..<n { for o in 0..<out { setAWQNibble(qw + i * (out / 8), o, w.code(o, i)) } }
            for g in 0..<groups { for o in 0..<out { setAWQNibble(zw + g * (out / 8), o, w.zero(o, g)) } }
            return [(prefix + ".qweight", reshaped(qweight, [n, out / 8])), (prefix + ".qzeros", reshaped(qzeros, [groups, out / 8])),
                    (prefix + ".scales", scales)]
        }
    }

    static func setField(_ words: UnsafeMutablePointer<UInt32>, stride: Int, index: Int, bits: Int, value: UInt32) {
        let bit = bits * index, w = bit / 32, shift = bit % 32
        words[w * stride] |= (value << shift).littleEndian
        if shift + bits > 32 { words[(w + 1) * stride] |= (value >> (32 - shift)).littleEndian }
    }

    static func setAWQNibble(_ row: UnsafeMutablePointer<UInt32>, _ o: Int, _ v: UInt8) {
        let k = awqOrder.firstIndex(of: o % 8)!
        row[o / 8] |= (UInt32(v & 15) << (4 * k)).littleEndian
    }

    /// Writes `tensors` as the Python `safetensors` writer would: sorted by dtype (wider first:
    /// F32, I32, then F16), then by name.
    public static func writeSafeTensors(_ tensors: [(name: String, tensor: Tensor)], to path: String) throws {
        let rank: [DType: Int] = [.f64: 0, .i64: 0, .f32: 1, .i32: 2, .bf16: 3, .f16: 4, .i16: 5, .u8: 6, .i8: 6, .bool: 7]
        let sorted = tensors.sorted { (rank[$0.tensor.dtype]!, $0.name) < (rank[$1.tensor.dtype]!, $1.name) }
        try SafeTensorsWriter.write(sorted, to: path)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

extension GPTQCheckpoint {
    /// Writes a GPT-2 whose block layers are group-quantized as a Hugging Face directory: config.json
    /// (`configText`, the source's config.json, with `quantization_config` added; a minimal one when
    /// nil), quantize_config.json (GPTQ), model.safetensors, and the tokenizer files of
    /// `tokenizerDirectory` when it has them.
    public static func write(_ model: GPT2, config c: QuantizedCheckpointConfig, configText: String?,
                             tokenizerDirectory: String?, to directory: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        func vector(_ name: String, _ v: [Float], _ shape: [Int]? = nil) { tensors.append((name, Tensor(v, shape: shape ?? [v.count]))) }
        let g = model.config, d = g.embeddingSize
        tensors.append(("transformer.wte.weight", Self.f32(model.wte)))
        vector("transformer.wpe.weight", model.wpe, [g.contextLength, d])
        vector("transformer.ln_f.weight", model.lnfWeight)
        vector("transformer.ln_f.bias", model.lnfBias)
        if model.head !== model.wte { tensors.append(("lm_head.weight", Self.f32(model.head))) }
        for (l, b) in model.blocks.enumerated() {
            let p = "transformer.h.\(l)."
            vector(p + "ln_1.weight", b.ln1Weight); vector(p + "ln_1.bias", b.ln1Bias)
            vector(p + "ln_2.weight", b.ln2Weight); vector(p + "ln_2.bias", b.ln2Bias)
            if let s = b.activationScales { vector(p + "mlp.act.scales", s) }
            for (suffix, w, bias) in [("attn.c_attn", b.attention, b.attentionBias), ("attn.c_proj", b.attentionProjection, b.attentionProjectionBias),
                                      ("mlp.c_fc", b.fc, b.fcBias), ("mlp.c_proj", b.projection, b.projectionBias)] {
                tensors += Self.tensors(of: try packable(w, p + suffix, c), prefix: p + suffix, config: c)
                if c.method == .gptq {
                    tensors.append((p + suffix + ".bias", half(bias)))
                } else {
                    vector(p + suffix + ".bias", bias)
                }
            }
        }
        try writeDirectory(tensors, config: c, configText: configText ?? """
            {
              "architectures": ["GPT2LMHeadModel"],
              "model_type": "gpt2",
              "vocab_size": \(g.vocabSize),
              "n_positions": \(g.contextLength),
              "n_embd": \(d),
              "n_layer": \(g.layerCount),
              "n_head": \(g.headCount),
              "n_inner": \(g.innerSize),
              "activation_function": "\(g.activation)",
              "layer_norm_epsilon": \(g.layerNormEpsilon),
              "tie_word_embeddings": \(g.tieWordEmbeddings)
            }
            """, tokenizerDirectory: tokenizerDirectory, to: directory)
    }

    /// model.safetensors of `tensors`; config.json (`configText` with `quantization_config` added);
    /// quantize_config.json (GPTQ); the tokenizer files of `tokenizerDirectory` when it has them.
    static func writeDirectory(_ tensors: [(name: String, tensor: Tensor)], config c: QuantizedCheckpointConfig, configText: String,
                               tokenizerDirectory: String?, to directory: String) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CoreError.file(directory, "cannot create the directory: \(error.localizedDescription)")
        }
        let dir = URL(fileURLWithPath: directory)
        try writeSafeTensors(tensors, to: dir.appendingPathComponent("model.safetensors").path)

        let quantJSON = c.json.map { "    \"\($0.0)\": \($0.1)" }.joined(separator: ",\n")
        var base = configText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard base.hasSuffix("}") else { throw CoreError.invalid("the source config.json does not end with '}'") }
        base = String(base.dropLast()).trimmingCharacters(in: .whitespacesAndNewlines)
        let text = base + ",\n  \"quantization_config\": {\n" + quantJSON + "\n  }\n}"
        try write(text, to: dir.appendingPathComponent("config.json").path)
        if c.method == .gptq {
            try write("{\n" + c.json.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}",
                      to: dir.appendingPathComponent("quantize_config.json").path)
        }
        if let t = tokenizerDirectory {
            for name in ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
                let src = URL(fileURLWithPath: t).appendingPathComponent(name).path, dst = dir.appendingPathComponent(name).path
                guard fm.fileExists(atPath: src), src != dst else { continue }
                try? fm.removeItem(atPath: dst)
                do { try fm.copyItem(atPath: src, toPath: dst) } catch { throw CoreError.file(dst, "cannot copy the tokenizer file: \(error.localizedDescription)") }
            }
        }
    }

    /// `w` as group-quantized codes that `c`'s layout can hold, or an error naming layer `name`.
    static func packable(_ w: LinearWeight, _ name: String, _ c: QuantizedCheckpointConfig) throws -> GroupQuantizedLinear {
        guard let q = w as? GroupQuantizedLinear else {
            throw CoreError.invalid("\(name) is stored as \(w.format), not as group-quantized codes: quantize the model with gptq, awq or rtn first")
        }
        guard c.method == .gptq || (q.bits == 4 && q.gIdx.enumerated().allSatisfy { Int($0.element) == $0.offset / max(1, c.groupSize) }) else {
            throw CoreError.invalid("\(name): the AWQ GEMM layout holds 4-bit codes in consecutive groups; this layer has \(q.bits)-bit codes or act-order groups")
        }
        return q
    }

    /// An embedding or head as F32 `[out, in]`: an F32 weight's own tensor, others dequantized row by
    /// row into one new tensor (no array copy beside it).
    static func f32(_ w: LinearWeight) -> Tensor {
        if let f = w as? F32Linear { return f.weight }
        let t = Tensor(zeros: [w.outFeatures, w.inFeatures])
        let p = t.mutableFloats.baseAddress!
        for r in 0..<w.outFeatures { w.dequantizeRow(r, into: p + r * w.inFeatures) }
        return t
    }

    /// `v` rounded to fp16, as the packers keep the biases of quantized layers.
    static func half(_ v: [Float]) -> Tensor {
        let h = Tensor(dtype: .f16, shape: [v.count], storage: Storage(byteCount: v.count * 2))
        let hp = h.storage.base.assumingMemoryBound(to: UInt16.self)
        for (i, x) in v.enumerated() { hp[i] = Float16(x).bitPattern.littleEndian }
        return h
    }

    static func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CoreError.file(path, "cannot write: \(error.localizedDescription)")
        }
    }
}

extension GPTQCheckpoint {
    /// Writes a Llama-family model whose layer matrices are group-quantized as a Hugging Face
    /// directory under transformers' names (Models/DecoderHF.swift): config.json (`configText`, the
    /// source's, with `quantization_config` added; else one made from the model's hyper-parameters),
    /// quantize_config.json (GPTQ), model.safetensors (embeddings and norms F32, biases of quantized
    /// layers fp16, as the packers keep them). A GGUF Llama's q/k rows go back to transformers' order.
    public static func write(_ model: DecoderModel, config c: QuantizedCheckpointConfig, configText: String?,
                             tokenizerDirectory: String?, to directory: String) throws {
        let m = model.config, d = m.embeddingSize
        guard let type = ["llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"][m.architecture] else {
            throw CoreError.unsupported("writing \(c.method.rawValue) checkpoints of \(m.architecture) (exprun writes the Hugging Face layout of llama, qwen2, qwen3 and gpt2)")
        }
        guard m.rope.factors == nil, m.rope.longFactors == nil, m.rope.extFactor == 0 else {
            throw CoreError.unsupported("writing \(m.architecture) with rope_freqs / YaRN rotary scaling as config.json (exprun writes default and linear rotary embeddings)")
        }
        let permuted = m.rope.style == .interleaved
        var tensors: [(name: String, tensor: Tensor)] = []
        func vector(_ name: String, _ v: [Float], _ shape: [Int]? = nil) { tensors.append((name, Tensor(v, shape: shape ?? [v.count]))) }
        tensors.append(("model.embed_tokens.weight", Self.f32(model.embedding)))
        vector("model.norm.weight", model.outputNorm)
        if !m.tiedHead { tensors.append(("lm_head.weight", Self.f32(model.head))) }
        for (l, layer) in model.layers.enumerated() {
            let p = "blk.\(l)."
            guard layer.qkv == nil, let q = layer.q, let k = layer.k, let v = layer.v, let gate = layer.gate,
                  layer.postAttentionNorm == nil, layer.postFeedForwardNorm == nil else {
                throw CoreError.unsupported("\(p): fused or extra matrices and norms have no place in the \(type) layout")
            }
            vector(DecoderHF.hfName(p + "attn_norm") + ".weight", layer.attentionNorm)
            vector(DecoderHF.hfName(p + "ffn_norm") + ".weight", layer.feedForwardNorm)
            if let n = layer.qNorm { vector(DecoderHF.hfName(p + "attn_q_norm") + ".weight", n) }
            if let n = layer.kNorm { vector(DecoderHF.hfName(p + "attn_k_norm") + ".weight", n) }
            let qOrder = permuted ? DecoderHF.hfRowOrder(heads: m.headCount, headSize: m.headSize) : nil
            let kOrder = permuted ? DecoderHF.hfRowOrder(heads: m.kvHeadCount, headSize: m.headSize) : nil
            let matrices: [(String, LinearWeight, [Float]?, [Int]?)] = [
                ("attn_q", q, layer.qBias, qOrder), ("attn_k", k, layer.kBias, kOrder), ("attn_v", v, layer.vBias, nil),
                ("attn_output", layer.o, layer.oBias, nil), ("ffn_gate", gate, layer.gateBias, nil),
                ("ffn_up", layer.up, layer.upBias, nil), ("ffn_down", layer.down, layer.downBias, nil)]
            for (name, w, bias, order) in matrices {
                let hf = DecoderHF.hfName(p + name)
                var packed = try packable(w, p + name, c)
                if let order { packed = try packed.reorderingRows(order) }
                tensors += Self.tensors(of: packed, prefix: hf, config: c)
                if let bias { tensors.append((hf + ".bias", half(order.map { $0.map { bias[$0] } } ?? bias))) }
            }
        }
        let architectures = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"][type]!
        var rope = "\"rope_theta\": \(m.rope.base)"
        if m.rope.freqScale != 1 { rope += ",\n  \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": \(1 / m.rope.freqScale)}" }
        let attentionBias = model.layers.first?.qBias != nil
        try writeDirectory(tensors, config: c, configText: configText ?? """
            {
              "architectures": ["\(architectures)"],
              "model_type": "\(type)",
              "vocab_size": \(m.vocabSize),
              "hidden_size": \(d),
              "intermediate_size": \(m.feedForwardSize),
              "num_hidden_layers": \(m.layerCount),
              "num_attention_heads": \(m.headCount),
              "num_key_value_heads": \(m.kvHeadCount),
              "head_dim": \(m.headSize),
              "max_position_embeddings": \(m.contextLength),
              "rms_norm_eps": \(m.rmsEpsilon),
              \(rope),
              "hidden_act": "silu",
              "attention_bias": \(attentionBias),
              "mlp_bias": false,
              "tie_word_embeddings": \(m.tiedHead),
              "torch_dtype": "float16"
            }
            """, tokenizerDirectory: tokenizerDirectory, to: directory)
    }
}
