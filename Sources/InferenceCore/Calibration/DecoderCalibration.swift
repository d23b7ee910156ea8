// The decoder family (Llama, Qwen 2/3, Gemma 1-3; Models/DecoderModel.swift) as the calibration pass
// runs it. Rather than a second copy of each architecture's layer, the layer graph itself runs on
// one sample at a time, with DecoderPass's `tap` shown each matrix and its input: a group's inputs
// are those its first matrix receives in a pass through the layer as it now stands (the earlier
// groups already quantized: true-sequential, as GPTQ's `llama.py` hooks the real layer), and the
// pass stops there. GPTQ's groups, with GGUF's tensor names:
//
//   group 0  attn_q, attn_k, attn_v   (one Hessian: they read the same input)
//   group 1  attn_output
//   group 2  ffn_gate, ffn_up
//   group 3  ffn_down
//
// AWQ's are AutoAWQ's Llama mapping: attn_norm → q, k, v (compared on attn_output's output); v → o
// when their shapes match (no grouped-query attention); ffn_norm → gate, up (compared on ffn_down's
// output); up → down. q and k are not clipped. Fused matrices (Phi-3's attn_qkv, a gate stacked in
// ffn_up) are not calibrated: the configuration fails naming them.
import Foundation

extension DecoderModel: CalibratedModel, AWQModel {
    var blockCount: Int { config.layerCount }

    func sequentialGroups(block l: Int) -> [[String]] {
        let p = "blk.\(l)."
        return [[p + "attn_q", p + "attn_k", p + "attn_v"], [p + "attn_output"], [p + "ffn_gate", p + "ffn_up"], [p + "ffn_down"]]
    }

    /// Why this model cannot be calibrated, if it cannot.
    var calibrationObstacle: String? {
        guard let l = layers.firstIndex(where: { $0.qkv != nil || $0.gate == nil }) else { return nil }
        return "blk.\(l): \(layers[l].qkv != nil ? "attn_qkv" : "ffn_up with the gate stacked in it") is one fused matrix; gptq and awq calibrate separate attn_q/attn_k/attn_v and ffn_gate/ffn_up matrices only"
    }

    func linear(_ name: String) -> LinearWeight {
        let (l, field) = Self.field(name)
        let layer = layers[l]
        switch field {
        case "attn_q": return layer.q!
        case "attn_k": return layer.k!
        case "attn_v": return layer.v!
        case "attn_output": return layer.o
        case "ffn_gate": return layer.gate!
        case "ffn_up": return layer.up
        default: return layer.down
        }
    }

    func setWeight(_ name: String, _ w: LinearWeight) {
        let (l, field) = Self.field(name)
        switch field {
        case "attn_q": layers[l].q = w
        case "attn_k": layers[l].k = w
        case "attn_v": layers[l].v = w
        case "attn_output": layers[l].o = w
        case "ffn_gate": layers[l].gate = w
        case "ffn_up": layers[l].up = w
        default: layers[l].down = w
        }
        if let i = weights.firstIndex(where: { $0.name == name + ".weight" }) {
            weights[i].format = w.format; weights[i].storedBytes = w.storedBytes; weights[i].note = w.note
        }
    }

    static func field(_ name: String) -> (Int, Substring) {
        let parts = name.split(separator: ".")
        precondition(parts.count == 3 && parts[0] == "blk", "not a decoder layer's matrix: \(name)")
        return (Int(parts[1])!, parts[2])
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

    /// Layer `l` run on one sample's input `x` (`T × d`), with `tap` shown each matrix; the layer's
    /// output (meaningless when the tap stopped the pass).
    @discardableResult
    func runLayer(_ l: Int, _ x: [Float], tap: ((LinearWeight, UnsafeMutablePointer<Float>) -> Bool)? = nil) -> [Float] {
        let d = config.embeddingSize, T = x.count / d
        let p = DecoderPass(model: self, rows: T, cache: makeCache(capacity: T))
        x.withUnsafeBufferPointer { p.x.update(from: $0.baseAddress!, count: T * d) }
        p.tap = tap
        graph.layer(l, p)
        return Array(UnsafeBufferPointer(start: p.x, count: T * d))
    }

    func groupInput(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [Float] {
        let first = linear(sequentialGroups(block: l)[k][0])
        var input: [Float] = []
        runLayer(l, state[0]) { w, src in
            guard w === first else { return true }
            input = Array(UnsafeBufferPointer(start: src, count: T * w.inFeatures))
            return false
        }
        return input
    }

    /// The state is the block's input until the last group, then its output.
    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [[Float]] {
        k == sequentialGroups(block: l).count - 1 ? [runLayer(l, state[0])] : state
    }

    // MARK: AWQ

    func awqGroups(block l: Int) -> [AWQScalingGroup] {
        let p = "blk.\(l).", layer = layers[l]
        var groups = [AWQScalingGroup(name: p + "attn_norm->attn_q,attn_k,attn_v", previous: .norm, layers: [p + "attn_q", p + "attn_k", p + "attn_v"])]
        if let v = layer.v, v.outFeatures == layer.o.outFeatures, v.inFeatures == layer.o.inFeatures {
            groups.append(AWQScalingGroup(name: p + "attn_v->attn_output", previous: .linear(p + "attn_v"), layers: [p + "attn_output"]))
        }
        groups.append(AWQScalingGroup(name: p + "ffn_norm->ffn_gate,ffn_up", previous: .norm, layers: [p + "ffn_gate", p + "ffn_up"]))
        groups.append(AWQScalingGroup(name: p + "ffn_up->ffn_down", previous: .linear(p + "ffn_up"), layers: [p + "ffn_down"]))
        return groups
    }

    /// The compared module's output: the group's first matrix is given `x` as its input (the pass
    /// before it only fills buffers), and the pass stops at the module's last matrix.
    func awqInspect(block l: Int, group g: Int, input x: [Float], tokens T: Int) -> [Float] {
        let group = awqGroups(block: l)[g], layer = layers[l]
        let first = linear(group.layers[0])
        let last: LinearWeight = group.layers[0].hasSuffix("attn_q") || group.layers[0].hasSuffix("attn_output") ? layer.o : layer.down
        var out: [Float] = []
        runLayer(l, [Float](repeating: 0, count: T * config.embeddingSize)) { w, src in
            if w === first { x.withUnsafeBufferPointer { src.update(from: $0.baseAddress!, count: x.count) } }
            guard w === last else { return true }
            out = [Float](repeating: 0, count: T * w.outFeatures)
            out.withUnsafeMutableBufferPointer { w.forward(src, rows: T, bias: nil, into: $0.baseAddress!, pool: self.pool) }
            return false
        }
        return out
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
            // The previous matrix's output rows (and bias) divided by the scales.
            let w = linear(name), n = w.inFeatures
            var v = w.dequantized()
            for r in 0..<s.count { for i in 0..<n { v[r * n + i] /= s[r] } }
            if name.hasSuffix("attn_v"), layers[l].vBias != nil { for r in s.indices { layers[l].vBias![r] /= s[r] } }
            if name.hasSuffix("ffn_up"), layers[l].upBias != nil { for r in s.indices { layers[l].upBias![r] /= s[r] } }
            setWeight(name, F32Linear(values: v, out: w.outFeatures, in: n))
        case .activation, .input:
            preconditionFailure("the decoder family has no scaled activation or input scales")
        }
    }

    func awqClips(_ name: String) -> Bool { !name.hasSuffix("attn_q") && !name.hasSuffix("attn_k") }
}
