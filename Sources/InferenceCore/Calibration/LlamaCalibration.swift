// The Llama family (Llama, Qwen2/3, Gemma 3; Models/Llama.swift) as the calibration pass runs it: a
// layer cut at its linear layers, in the groups GPTQ's `llama.py` quantizes true-sequentially
// (q, k, v share one Hessian), with GGUF's tensor names:
//
//   group 0  attn_q, attn_k, attn_v   input rmsnorm(x)·attn_norm
//   group 1  attn_output              input a = attention(rope(q), rope(k), v)       (kept per sample)
//   group 2  ffn_gate, ffn_up         input rmsnorm(x1)·ffn_norm,  x1 = x + post_attention_norm(o(a))
//   group 3  ffn_down                 input act(gate)·up                               (made again when needed)
//   output   x1 + post_ffw_norm(down(act(gate)·up))
//
// AWQ's groups are AutoAWQ's Llama mapping: attn_norm → q, k, v (compared on the attention's output);
// v → o when their shapes match (no grouped-query attention); ffn_norm → gate, up (compared on the
// MLP's output); up → down. q and k are not clipped.
import Foundation

extension Llama: CalibratedModel, AWQModel {
    var blockCount: Int { config.layerCount }

    func sequentialGroups(block l: Int) -> [[String]] {
        let p = "blk.\(l)."
        return [[p + "attn_q", p + "attn_k", p + "attn_v"], [p + "attn_output"], [p + "ffn_gate", p + "ffn_up"], [p + "ffn_down"]]
    }

    func field(_ name: String) -> (Int, WritableKeyPath<LlamaLayer, LinearWeight>) {
        let parts = name.split(separator: ".")
        precondition(parts.count == 3 && parts[0] == "blk", "not a Llama layer: \(name)")
        let l = Int(parts[1])!
        switch parts[2] {
        case "attn_q": return (l, \.q)
        case "attn_k": return (l, \.k)
        case "attn_v": return (l, \.v)
        case "attn_output": return (l, \.o)
        case "ffn_gate": return (l, \.gate)
        case "ffn_up": return (l, \.up)
        default: return (l, \.down)
        }
    }

    func linear(_ name: String) -> LinearWeight {
        let (l, f) = field(name)
        return layers[l][keyPath: f]
    }

    func setWeight(_ name: String, _ w: LinearWeight) {
        let (l, f) = field(name)
        layers[l][keyPath: f] = w
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
                embedding.dequantizeRow(token, into: row)
                if config.embeddingScale != 1 { for i in 0..<d { row[i] *= config.embeddingScale } }
            }
        }
        return x
    }

    func groupInput(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [Float] {
        let layer = layers[l]
        switch k {
        case 0: return normalized(state[0], T, layer.attentionNorm)
        case 1: return state[1]
        case 2: return normalized(state[0], T, layer.feedForwardNorm)
        default: return gated(l, normalized(state[0], T, layer.feedForwardNorm), T)
        }
    }

    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [[Float]] {
        let layer = layers[l]
        switch k {
        case 0: return [state[0], attention(l, normalized(state[0], T, layer.attentionNorm), T)]
        case 1: return [residual(state[0], projectAttention(l, state[1], T))]
        case 2: return state
        default: return [residual(state[0], projectFeedForward(l, groupInput(block: l, group: 3, state: state, tokens: T), T))]
        }
    }

    /// The attention of one sample from the normalized input h (`T × d`): `T × qDim`, before attn_output.
    func attention(_ l: Int, _ h: [Float], _ T: Int) -> [Float] {
        let c = config, layer = layers[l], qd = c.qDim, kvd = c.kvDim
        var q = product(layer.q, h, T, layer.qBias), k = product(layer.k, h, T, layer.kBias)
        let v = product(layer.v, h, T, layer.vBias)
        let local = c.isLocal[l], base = local ? c.localRopeBase : c.ropeBase
        var att = [Float](repeating: 0, count: T * qd)
        q.withUnsafeMutableBufferPointer { qp in
            k.withUnsafeMutableBufferPointer { kp in
                let qb = qp.baseAddress!, kb = kp.baseAddress!
                if let w = layer.qNorm { Llama.rmsNorm(qb, rows: T * c.headCount, dim: c.headSize, weight: w, eps: c.rmsEpsilon, into: qb) }
                if let w = layer.kNorm { Llama.rmsNorm(kb, rows: T * c.kvHeadCount, dim: c.headSize, weight: w, eps: c.rmsEpsilon, into: kb) }
                for t in 0..<T {
                    Llama.rope(qb + t * qd, heads: c.headCount, headSize: c.headSize, dims: c.ropeDimensions, position: t,
                               base: base, scale: c.ropeScale, factors: c.ropeFrequencyFactors, style: c.ropeStyle)
                    Llama.rope(kb + t * kvd, heads: c.kvHeadCount, headSize: c.headSize, dims: c.ropeDimensions, position: t,
                               base: base, scale: c.ropeScale, factors: c.ropeFrequencyFactors, style: c.ropeStyle)
                }
                // Keys and values rounded to F16 as the forward pass keeps them in its cache.
                let keys = (0..<T * kvd).map { Float(Float16(kb[$0])) }, values = v.map { Float(Float16($0)) }
                keys.withUnsafeBufferPointer { kk in values.withUnsafeBufferPointer { vv in att.withUnsafeMutableBufferPointer { a in
                    Llama.attention(queries: qb, rows: T, start: 0, keys: kk.baseAddress!, values: vv.baseAddress!,
                                    heads: c.headCount, kvHeads: c.kvHeadCount, headSize: c.headSize, scale: c.attentionScale,
                                    window: local ? c.slidingWindow : nil, into: a.baseAddress!, pool: pool)
                } } }
            }
        }
        return att
    }

    /// attn_output, then the post-attention norm where the architecture has one.
    func projectAttention(_ l: Int, _ a: [Float], _ T: Int) -> [Float] {
        var o = product(layers[l].o, a, T, nil)
        if let w = layers[l].postAttentionNorm { o = normalized(o, T, w) }
        return o
    }

    /// act(gate(h))·up(h).
    func gated(_ l: Int, _ h: [Float], _ T: Int) -> [Float] {
        var g = product(layers[l].gate, h, T, nil)
        let u = product(layers[l].up, h, T, nil)
        g.withUnsafeMutableBufferPointer { gp in u.withUnsafeBufferPointer { Llama.gatedActivation(gp.baseAddress!, $0.baseAddress!, count: gp.count, config.activation, pool: pool) } }
        return g
    }

    func projectFeedForward(_ l: Int, _ m: [Float], _ T: Int) -> [Float] {
        var o = product(layers[l].down, m, T, nil)
        if let w = layers[l].postFeedForwardNorm { o = normalized(o, T, w) }
        return o
    }

    func residual(_ x: [Float], _ y: [Float]) -> [Float] { zip(x, y).map { $0 + $1 } }

    func normalized(_ x: [Float], _ T: Int, _ w: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        let d = w.count
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Llama.rmsNorm(xp.baseAddress!, rows: x.count / d, dim: d, weight: w, eps: config.rmsEpsilon, into: $0.baseAddress!) } }
        return y
    }

    func product(_ w: LinearWeight, _ x: [Float], _ T: Int, _ bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: T * w.outFeatures)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { w.forward(xp.baseAddress!, rows: T, bias: bias, into: $0.baseAddress!, pool: pool) } }
        return y
    }

    // MARK: AWQ

    /// v → o scales only when v's outputs are o's inputs one to one (AutoAWQ: equal weight shapes).
    func awqGroups(block l: Int) -> [AWQScalingGroup] {
        let p = "blk.\(l)."
        var groups = [AWQScalingGroup(name: p + "attn_norm->attn_q,attn_k,attn_v", previous: .norm, layers: [p + "attn_q", p + "attn_k", p + "attn_v"])]
        if layers[l].v.outFeatures == layers[l].o.outFeatures && layers[l].v.inFeatures == layers[l].o.inFeatures {
            groups.append(AWQScalingGroup(name: p + "attn_v->attn_output", previous: .linear(p + "attn_v"), layers: [p + "attn_output"]))
        }
        groups.append(AWQScalingGroup(name: p + "ffn_norm->ffn_gate,ffn_up", previous: .norm, layers: [p + "ffn_gate", p + "ffn_up"]))
        groups.append(AWQScalingGroup(name: p + "ffn_up->ffn_down", previous: .linear(p + "ffn_up"), layers: [p + "ffn_down"]))
        return groups
    }

    func awqInspect(block l: Int, group g: Int, input x: [Float], tokens T: Int) -> [Float] {
        switch awqGroups(block: l)[g].layers[0] {
        case let n where n.hasSuffix("attn_q"): return product(layers[l].o, attention(l, x, T), T, nil)
        case let n where n.hasSuffix("attn_output"): return product(layers[l].o, x, T, nil)
        case let n where n.hasSuffix("ffn_gate"): return product(layers[l].down, gated(l, x, T), T, nil)
        default: return product(layers[l].down, x, T, nil)
        }
    }

    func awqScalePrevious(block l: Int, group g: Int, scales s: [Float]) {
        let group = awqGroups(block: l)[g]
        switch group.previous {
        case .norm:
            if group.layers[0].hasSuffix("attn_q") {
                for i in s.indices { layers[l].attentionNorm[i] /= s[i] }
            } else {
                for i in s.indices { layers[l].feedForwardNorm[i] /= s[i] }
            }
        case let .linear(name):
            // The previous layer's output rows (and bias) divided by the scales.
            let w = linear(name), n = w.inFeatures, first = w.outFeatures - s.count
            var v = w.dequantized()
            for r in 0..<s.count { for i in 0..<n { v[(first + r) * n + i] /= s[r] } }
            if name.hasSuffix("attn_v"), layers[l].vBias != nil { for r in 0..<s.count { layers[l].vBias![first + r] /= s[r] } }
            setWeight(name, F32Linear(values: v, out: w.outFeatures, in: n))
        case .activation:
            preconditionFailure("the Llama family has no scaled activation")
        }
    }

    func awqClips(_ name: String) -> Bool { !name.hasSuffix("attn_q") && !name.hasSuffix("attn_k") }
}
