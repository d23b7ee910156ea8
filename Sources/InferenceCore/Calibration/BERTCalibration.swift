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
// A calibration sample is one text's tokens ([CLS] ... [SEP]); attention stays within it.
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
        case 0, 2: return state[0]
        case 1: return state[1]
        default: return hidden(l, state[0], T)
        }
    }

    func advance(block l: Int, group k: Int, state: [[Float]], tokens T: Int) -> [[Float]] {
        let b = layers[l], d = config.hiddenSize
        switch k {
        case 0:
            let q = product(b.query, state[0], T, b.queryBias), key = product(b.key, state[0], T, b.keyBias)
            let v = product(b.value, state[0], T, b.valueBias)
            var a = [Float](repeating: 0, count: T * d)
            q.withUnsafeBufferPointer { qp in key.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in a.withUnsafeMutableBufferPointer { ap in
                attention(UnsafeMutablePointer(mutating: qp.baseAddress!), UnsafeMutablePointer(mutating: kp.baseAddress!),
                          UnsafeMutablePointer(mutating: vp.baseAddress!), sequences: [[Int](repeating: 0, count: T)], starts: [0], into: ap.baseAddress!)
            } } } }
            return [state[0], a]
        case 1:
            return [residualNorm(product(b.attentionOutput, state[1], T, b.attentionOutputBias), state[0], T, b.attentionNormWeight, b.attentionNormBias)]
        case 2:
            return state
        default:
            return [residualNorm(product(b.output, hidden(l, state[0], T), T, b.outputBias), state[0], T, b.outputNormWeight, b.outputNormBias)]
        }
    }

    /// gelu(intermediate.dense(x1)): the input of output.dense.
    func hidden(_ l: Int, _ x: [Float], _ T: Int) -> [Float] {
        var h = product(layers[l].intermediate, x, T, layers[l].intermediateBias)
        h.withUnsafeMutableBufferPointer { Activation.geluErf($0.baseAddress!, count: $0.count) }
        return h
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

extension Calibration {
    /// GPTQ on a sentence encoder's BERT, in place. Calibration windows are drawn from the text as
    /// for decoders (by default 128 of max_seq_length − 2 pieces of WikiText-2 train) and each is
    /// wrapped in [CLS] … [SEP], as the encoder sees a text.
    public static func quantize(_ encoder: SentenceEncoder, config: QuantizationConfig) throws -> CalibrationReport {
        guard config.method == "gptq" else {
            throw CoreError.unsupported("\(config.method) is not implemented for BERT encoders (gptq is; rtn for round-to-nearest)")
        }
        _ = try gptqConfiguration(config, known: Set(gptqParameters.keys))
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
