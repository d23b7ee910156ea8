// BERT as the calibration pass runs it (CalibrationPass.swift): a layer of BERT.swift cut at its
// linear layers, in the order true-sequential GPTQ quantizes them (GPTQModel's BERT-family
// layout: the attention's inputs, its output, the MLP's up and down projections), each group
// from inputs computed with the earlier groups already quantized. Post-LN, so each residual sum
// is normalized before the next group sees it:
//
//   group 0  attention.self.{query,key,value}  input x
//   group 1  attention.output.dense            input a = attention(q, k, v)        (kept per sample)
//   group 2  intermediate.dense                input x1 = LN(x + attention.output.dense(a))
//   group 3  output.dense                      input gelu(intermediate.dense(x1))  (made again when needed)
//   output   LN(x1 + output.dense(gelu(intermediate.dense(x1))))
//
// A calibration sample is one text's tokens ([CLS] ... [SEP]); attention stays within it. A group's
// input is what its layers multiply: with AWQ's input scales set, the residual divided by them.
import Foundation

extension BERT: CalibratedModel {
    var blockCount: Int { config.layerCount }

    func sequentialGroups(block l: Int) -> [[String]] {
        let p = "encoder.layer.\(l)."
        return [["query", "key", "value"].map { p + "attention.self." + $0 }, [p + "attention.output.dense"],
                [p + "intermediate.dense"], [p + "output.dense"]]
    }

    /// Layer index and field of a linear layer's checkpoint name.
    func field(_ name: String) -> (Int, WritableKeyPath<Layer, LinearWeight>) {
        let parts = name.split(separator: ".")
        precondition(parts.count >= 4 && parts[0] == "encoder" && parts[1] == "layer", "not a BERT layer's linear layer: \(name)")
        let l = Int(parts[2])!
        switch parts.dropFirst(3).joined(separator: ".") {
        case "attention.self.query": return (l, \.query)
        case "attention.self.key": return (l, \.key)
        case "attention.self.value": return (l, \.value)
        case "attention.output.dense": return (l, \.attentionOutput)
        case "intermediate.dense": return (l, \.intermediate)
        default: return (l, \.output)
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

    /// The embedding output of one text (LayerNorm included), `tokens × hidden`: the forward pass's
    /// layer output 0 (once per sample, before any layer changes).
    func embed(_ tokens: [Int]) -> [Float] {
        var x: [Float] = []
        _ = try? forward([tokens]) { k, rows in if k == 0 { x = Array(rows) } }
        return x
    }

    func groupInput(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [Float] {
        switch k {
        case 0: return divided(state[0], layers[l].attentionInputScales)
        case 1: return state[1]
        case 2: return divided(state[0], layers[l].intermediateInputScales)
        default: return hidden(l, state[0], T)
        }
    }

    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [[Float]] {
        let b = layers[l]
        switch k {
        case 0:
            return [state[0], attention(l, groupInput(block: l, group: 0, state: state, tokens: T), T)]
        case 1:
            return [residualNorm(product(b.attentionOutput, state[1], T, b.attentionOutputBias), state[0], T, b.attentionNormWeight, b.attentionNormBias)]
        case 2:
            return state
        default:
            return [residualNorm(product(b.output, hidden(l, state[0], T), T, b.outputBias), state[0], T, b.outputNormWeight, b.outputNormBias)]
        }
    }

    /// The attention's heads from the input of query/key/value (before attention.output.dense).
    func attention(_ l: Int, _ x: [Float], _ T: Int) -> [Float] {
        let b = layers[l], d = config.hiddenSize
        let q = product(b.query, x, T, b.queryBias), key = product(b.key, x, T, b.keyBias)
        let v = product(b.value, x, T, b.valueBias)
        var a = [Float](repeating: 0, count: T * d)
            q.withUnsafeBufferPointer { qp in key.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in a.withUnsafeMutableBufferPointer { ap in
                attention(UnsafeMutablePointer(mutating: qp.baseAddress!), UnsafeMutablePointer(mutating: kp.baseAddress!),
                          UnsafeMutablePointer(mutating: vp.baseAddress!), sequences: [[Int](repeating: 0, count: T)], starts: [0], into: ap.baseAddress!)
            } } } }
        return a
    }

    /// gelu(intermediate.dense(x1)) (with AWQ's scales): the input of output.dense.
    func hidden(_ l: Int, _ x: [Float], _ T: Int) -> [Float] {
        activated(l, product(layers[l].intermediate, divided(x, layers[l].intermediateInputScales), T, layers[l].intermediateBias), T)
    }

    func activated(_ l: Int, _ h: [Float], _ T: Int) -> [Float] {
        var h = h
        h.withUnsafeMutableBufferPointer { gelu($0.baseAddress!, rows: T, scales: layers[l].activationScales) }
        return h
    }

    /// Rows of `x` divided by `scales`, if any.
    func divided(_ x: [Float], _ scales: [Float]?) -> [Float] {
        guard let scales else { return x }
        var y = x
        for i in y.indices { y[i] /= scales[i % scales.count] }
        return y
    }

    /// LN(sublayer + x), as the forward pass computes it.
    func residualNorm(_ sublayer: [Float], _ x: [Float], _ T: Int, _ weight: [Float], _ bias: [Float]) -> [Float] {
        var h = sublayer, y = x
        h.withUnsafeMutableBufferPointer { hp in y.withUnsafeMutableBufferPointer { addAndNorm(hp.baseAddress!, $0.baseAddress!, rows: T, weight: weight, bias: bias) } }
        return y
    }

    func product(_ w: LinearWeight, _ x: [Float], _ T: Int, _ bias: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: T * w.outFeatures)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { linear(w, xp.baseAddress!, rows: T, bias: bias, into: $0.baseAddress!) } }
        return y
    }
}

// AWQ's scaling groups on BERT (AutoAWQ has no BERT mapping; these follow its Llama one, compared on
// the same modules: the attention's output before the residual, the MLP's output). Post-LN: the
// LayerNorm before query/key/value and before intermediate.dense also feeds the residual, so the
// scales cannot be folded into it; they stay an explicit per-channel divisor of those layers' input
// (`attentionInputScales`, `intermediateInputScales`), as AutoAWQ's ScaledActivation keeps an
// activation's. value → attention.output.dense folds into value's rows and bias; gelu →
// output.dense is a scaled activation. query and key feed q·kᵀ, so they are not clipped.
extension BERT: AWQModel {
    func awqGroups(block l: Int) -> [AWQScalingGroup] {
        let p = "encoder.layer.\(l)."
        return [
            AWQScalingGroup(name: p + "attention.self.input->query,key,value", previous: .input,
                            layers: ["query", "key", "value"].map { p + "attention.self." + $0 }),
            AWQScalingGroup(name: p + "attention.self.value->attention.output.dense", previous: .linear(p + "attention.self.value"),
                            layers: [p + "attention.output.dense"]),
            AWQScalingGroup(name: p + "intermediate.input->intermediate.dense", previous: .input, layers: [p + "intermediate.dense"]),
            AWQScalingGroup(name: p + "intermediate.gelu->output.dense", previous: .activation, layers: [p + "output.dense"]),
        ]
    }

    func awqInspect(block l: Int, group g: Int, input x: [Float], tokens T: Int) -> [Float] {
        let b = layers[l]
        switch g {
        case 0: return product(b.attentionOutput, attention(l, x, T), T, b.attentionOutputBias)
        case 1: return product(b.attentionOutput, x, T, b.attentionOutputBias)
        case 2: return product(b.output, activated(l, product(b.intermediate, x, T, b.intermediateBias), T), T, b.outputBias)
        default: return product(b.output, x, T, b.outputBias)
        }
    }

    func awqScalePrevious(block l: Int, group g: Int, scales s: [Float]) {
        let p = "encoder.layer.\(l)."
        func times(_ old: [Float]?, _ name: String) -> [Float] {
            if old == nil { weights.append(WeightInfo(name: name, format: "fp32", shape: [s.count], storedBytes: 4 * s.count, parameters: 0)) }
            return zip(old ?? [Float](repeating: 1, count: s.count), s).map { $0 * $1 }
        }
        switch g {
        case 0: layers[l].attentionInputScales = times(layers[l].attentionInputScales, p + "attention.self.input_scales")
        case 1:
            let w = layers[l].value, n = w.inFeatures
            var v = w.dequantized()
            for r in s.indices { for i in 0..<n { v[r * n + i] /= s[r] }; layers[l].valueBias[r] /= s[r] }
            setWeight(p + "attention.self.value", F32Linear(values: v, out: w.outFeatures, in: n))
        case 2: layers[l].intermediateInputScales = times(layers[l].intermediateInputScales, p + "intermediate.input_scales")
        default: layers[l].activationScales = times(layers[l].activationScales, p + "intermediate.intermediate_act_fn.scales")
        }
    }

    func awqClips(_ name: String) -> Bool { !name.hasSuffix("attention.self.query") && !name.hasSuffix("attention.self.key") }
}

extension Calibration {
    /// GPTQ or AWQ on a sentence encoder's BERT, in place. Calibration windows are drawn from the text as
    /// for decoders (by default 128 of max_seq_length − 2 pieces of WikiText-2 train) and each is
    /// wrapped in [CLS] … [SEP], as the encoder sees a text.
    public static func quantize(_ encoder: SentenceEncoder, config: QuantizationConfig) throws -> CalibrationReport {
        switch config.method {
        case "gptq": _ = try gptqConfiguration(config, known: Set(gptqParameters.keys))
        case "awq": _ = try awqConfiguration(config)
        default: throw CoreError.invalid("\(config.method) is not a calibrated method (gptq, awq)")
        }
        var set = config.calibration ?? defaultCalibration
        if config.calibration == nil { set.tokens = encoder.maxSequenceLength - 2 }
        let windows = try CalibrationData.load(set, tokenizer: encoder.tokenizer, vocabularySize: encoder.bert.config.vocabSize,
                                               contextLength: encoder.maxSequenceLength - 2)
        let samples = windows.map { encoder.tokenizer.wrap($0) }
        var report = try run(encoder.bert, config: config, samples: samples) { !Quantization.applies(to: $0, role: .linear, config: config) }
        report.tokenIDs = samples
        report.calibration = set
        return report
    }
}
