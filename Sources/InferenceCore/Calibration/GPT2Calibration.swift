// GPT-2 as the calibration pass runs it (CalibrationPass.swift): the block of GPT2.swift cut at its
// four linear layers, which true-sequential GPTQ quantizes in this order, each from inputs computed
// with the ones before it already quantized:
//
//   group 0  attn.c_attn   input ln_1(x)
//   group 1  attn.c_proj   input a = attention(c_attn(ln_1(x)))          (kept per sample)
//   group 2  mlp.c_fc      input ln_2(x1),  x1 = x + c_proj(a)
//   group 3  mlp.c_proj    input gelu(c_fc(ln_2(x1)))                     (made again when needed:
//                                                                          it is 4× wider than x)
//   output   x1 + mlp.c_proj(gelu(c_fc(ln_2(x1))))
import Foundation

extension GPT2: CalibratedModel {
    var blockCount: Int { config.layerCount }

    static let linearSuffixes = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]

    func sequentialGroups(block l: Int) -> [[String]] {
        Self.linearSuffixes.map { ["transformer.h.\(l).\($0)"] }
    }

    /// Block index and field of a linear layer's checkpoint name.
    func field(_ name: String) -> (Int, WritableKeyPath<Block, LinearWeight>) {
        let parts = name.split(separator: ".")
        precondition(parts.count == 5 && parts[0] == "transformer" && parts[1] == "h", "not a GPT-2 block layer: \(name)")
        let l = Int(parts[2])!
        switch parts[3] + "." + parts[4] {
        case "attn.c_attn": return (l, \.attention)
        case "attn.c_proj": return (l, \.attentionProjection)
        case "mlp.c_fc": return (l, \.fc)
        default: return (l, \.projection)
        }
    }

    func linear(_ name: String) -> LinearWeight {
        let (l, f) = field(name)
        return blocks[l][keyPath: f]
    }

    func setWeight(_ name: String, _ w: LinearWeight) {
        let (l, f) = field(name)
        blocks[l][keyPath: f] = w
        if let i = weights.firstIndex(where: { $0.name == name + ".weight" }) {
            weights[i].format = w.format; weights[i].storedBytes = w.storedBytes; weights[i].note = w.note
        }
    }

    func embed(_ tokens: [Int]) -> [Float] {
        let d = config.embeddingSize
        var x = [Float](repeating: 0, count: tokens.count * d)
        x.withUnsafeMutableBufferPointer { xb in
            for (t, token) in tokens.enumerated() {
                let row = xb.baseAddress! + t * d
                wte.dequantizeRow(token, into: row)
                for i in 0..<d { row[i] += wpe[t * d + i] }
            }
        }
        return x
    }

    func groupInput(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [Float] {
        let b = blocks[l]
        switch k {
        case 0: return normalized(state[0], T, b.ln1Weight, b.ln1Bias)
        case 1: return state[1]
        case 2: return normalized(state[0], T, b.ln2Weight, b.ln2Bias)
        default: return hidden(l, state[0], T)
        }
    }

    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [[Float]] {
        advance(block: l, group: k, state: state, tokens: T, normalizedInput: false)
    }

    /// `normalizedInput`: state[0] is already ln_1's output (AWQ runs the attention from its input).
    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int, normalizedInput: Bool) -> [[Float]] {
        let b = blocks[l], d = config.embeddingSize
        switch k {
        case 0:
            let h = normalizedInput ? state[0] : normalized(state[0], T, b.ln1Weight, b.ln1Bias)
            let qkv = product(b.attention, h, T, b.attentionBias)
            var att = [Float](repeating: 0, count: T * d)
            let keys = UnsafeMutablePointer<Float>.allocate(capacity: T * d), values = UnsafeMutablePointer<Float>.allocate(capacity: T * d)
            defer { keys.deallocate(); values.deallocate() }
            qkv.withUnsafeBufferPointer { q in
                for t in 0..<T {
                    (keys + t * d).update(from: q.baseAddress! + t * 3 * d + d, count: d)
                    (values + t * d).update(from: q.baseAddress! + t * 3 * d + 2 * d, count: d)
                }
                att.withUnsafeMutableBufferPointer { a in
                    attention(queries: UnsafeMutablePointer(mutating: q.baseAddress!), rows: T, start: 0, layer: l,
                              keys: keys, values: values, into: a.baseAddress!)
                }
            }
            return [state[0], att]
        case 1:
            var x = state[0]
            let o = product(b.attentionProjection, state[1], T, b.attentionProjectionBias)
            for i in x.indices { x[i] += o[i] }
            return [x]
        case 2:
            return state
        default:
            var x = state[0]
            let o = product(b.projection, hidden(l, x, T), T, b.projectionBias)
            for i in x.indices { x[i] += o[i] }
            return [x]
        }
    }

    /// The MLP's hidden values (the input of mlp.c_proj) from the residual x1.
    func hidden(_ l: Int, _ x: [Float], _ T: Int) -> [Float] {
        let b = blocks[l]
        var h = product(b.fc, normalized(x, T, b.ln2Weight, b.ln2Bias), T, b.fcBias)
        h.withUnsafeMutableBufferPointer { activate($0.baseAddress!, count: $0.count, scales: b.activationScales) }
        return h
    }

    func normalized(_ x: [Float], _ T: Int, _ w: [Float], _ bias: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { layerNorm(xp.baseAddress!, rows: T, weight: w, bias: bias, into: $0.baseAddress!) } }
        return y
    }

    func product(_ w: LinearWeight, _ x: [Float], _ T: Int, _ bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: T * w.outFeatures)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { w.forward(xp.baseAddress!, rows: T, bias: bias, into: $0.baseAddress!, pool: pool) } }
        return y
    }
}

extension GPT2Config {
    /// `[out, in]` of a block's linear layer by checkpoint name (`transformer.h.0.mlp.c_fc`), nil otherwise.
    func linearShape(_ name: String) -> (Int, Int)? {
        let d = embeddingSize, f = innerSize
        guard name.hasPrefix("transformer.h.") else { return nil }
        if name.hasSuffix(".attn.c_attn") { return (3 * d, d) }
        if name.hasSuffix(".attn.c_proj") { return (d, d) }
        if name.hasSuffix(".mlp.c_fc") { return (f, d) }
        if name.hasSuffix(".mlp.c_proj") { return (d, f) }
        return nil
    }
}

// AWQ's scaling groups on GPT-2 (AutoAWQ has no GPT-2 mapping; this is its MPT one, whose block
// has the same shape): ln_1 → attn.c_attn, compared on the attention's output; the v rows of
// attn.c_attn → attn.c_proj; ln_2 → mlp.c_fc, compared on the MLP's output; the activation →
// mlp.c_proj, through a scaled activation (`mlp.act.scales` in the checkpoint). attn.c_attn computes
// q and k, so it is not clipped.
extension GPT2: AWQModel {
    func awqGroups(block l: Int) -> [AWQScalingGroup] {
        let p = "transformer.h.\(l)."
        return [
            AWQScalingGroup(name: p + "ln_1->attn.c_attn", previous: .norm, layers: [p + "attn.c_attn"]),
            AWQScalingGroup(name: p + "attn.c_attn->attn.c_proj", previous: .linear(p + "attn.c_attn"), layers: [p + "attn.c_proj"]),
            AWQScalingGroup(name: p + "ln_2->mlp.c_fc", previous: .norm, layers: [p + "mlp.c_fc"]),
            AWQScalingGroup(name: p + "mlp.act->mlp.c_proj", previous: .activation, layers: [p + "mlp.c_proj"]),
        ]
    }

    func awqInspect(block l: Int, group g: Int, input x: [Float], tokens T: Int) -> [Float] {
        let b = blocks[l]
        switch g {
        case 0:
            // The attention module from its input: c_attn, attention, c_proj.
            let att = advance(block: l, group: 0, state: [x, []], tokens: T, normalizedInput: true)[1]
            return product(b.attentionProjection, att, T, b.attentionProjectionBias)
        case 1: return product(b.attentionProjection, x, T, b.attentionProjectionBias)
        case 2:
            var h = product(b.fc, x, T, b.fcBias)
            h.withUnsafeMutableBufferPointer { activate($0.baseAddress!, count: $0.count, scales: b.activationScales) }
            return product(b.projection, h, T, b.projectionBias)
        default: return product(b.projection, x, T, b.projectionBias)
        }
    }

    func awqScalePrevious(block l: Int, group g: Int, scales s: [Float]) {
        let d = config.embeddingSize
        switch g {
        case 0:
            for i in 0..<d { blocks[l].ln1Weight[i] /= s[i]; blocks[l].ln1Bias[i] /= s[i] }
        case 1:
            let w = blocks[l].attention, n = w.inFeatures
            var v = w.dequantized()
            for r in 0..<d { for i in 0..<n { v[(2 * d + r) * n + i] /= s[r] }; blocks[l].attentionBias[2 * d + r] /= s[r] }
            setWeight("transformer.h.\(l).attn.c_attn", F32Linear(values: v, out: w.outFeatures, in: n))
        case 2:
            for i in 0..<d { blocks[l].ln2Weight[i] /= s[i]; blocks[l].ln2Bias[i] /= s[i] }
        default:
            let old = blocks[l].activationScales ?? [Float](repeating: 1, count: s.count)
            blocks[l].activationScales = zip(old, s).map { $0 * $1 }
        }
    }

    func awqClips(_ name: String) -> Bool { !name.hasSuffix("attn.c_attn") }
}
