// AWQ on BERT encoders (Calibration/BERTCalibration.swift):
// - the search picks, for every scaling group of the small random BERT, the grid ratio whose output
//   error is least, against a brute-force evaluation of the whole grid written here with plain loops
//   (its own attention and MLP, its own scales from AWQ's formula; only the 4-bit quantizer is AWQ's);
// - the input scales and the scaled activation are applied by the forward pass: weights multiplied
//   by scales and inputs divided by them give back the FP32 model's embeddings;
// - on all-MiniLM-L6-v2, sentences the calibration never saw keep embeddings closer to FP32's than
//   round-to-nearest on the same grid (4 bits, asymmetric, groups of 128).
import Foundation
import Testing
@testable import InferenceCore

@Suite struct BERTAWQTests {
    static let texts = try! BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("tiny-random-oracle.json")).sentences.map(\.text)

    @Test func searchPicksTheRatioWithTheLeastOutputError() throws {
        let reference = try SentenceEncoder.load(BERTFixture.tiny).bert
        let encoder = try SentenceEncoder.load(BERTFixture.tiny)
        let samples = Self.texts.map { encoder.tokenize($0).ids }
        var results: [AWQGroupResult] = []
        _ = try AWQ.quantize(encoder.bert, samples: samples, groupSize: 16, duoScaling: true, observe: { results.append($0) })
        let c = reference.config
        #expect(results.count == 4 * c.layerCount)

        // Every block's input from the FP32 model (AWQ searches each block on the unquantized model's activations).
        var blockInputs = [[[Float]]](repeating: [], count: c.layerCount)
        for s in samples { _ = try reference.forward([s]) { k, rows in if k < c.layerCount { blockInputs[k].append(Array(rows)) } } }
        var chosen: [Int] = []
        for l in 0..<c.layerCount {
            let layer = reference.layers[l]
            let f32 = { (w: LinearWeight) in w.dequantized() }
            var q = f32(layer.query), k = f32(layer.key), v = f32(layer.value), o = f32(layer.attentionOutput)
            var up = f32(layer.intermediate), down = f32(layer.output)
            let x = blockInputs[l]
            func attention(_ x: [Float]) -> [Float] {
                Self.heads(Self.affine(x, q, layer.queryBias), Self.affine(x, k, layer.keyBias), Self.affine(x, v, layer.valueBias),
                           d: c.hiddenSize, heads: c.headCount)
            }
            func mlp(_ x: [Float]) -> [Float] { Self.affine(Self.affine(x, up, layer.intermediateBias).map(GPT2.geluErf), down, layer.outputBias) }
            let a = x.map(attention)
            let x1 = zip(x, a).map { x, a in
                let sum = zip(Self.affine(a, o, layer.attentionOutputBias), x).map { $0 + $1 }
                var h = sum
                BERT.layerNorm(sum, rows: sum.count / c.hiddenSize, d: c.hiddenSize, weight: layer.attentionNormWeight,
                               bias: layer.attentionNormBias, eps: c.layerNormEpsilon, into: &h)
                return h
            }
            let hidden = x1.map { Self.affine($0, up, layer.intermediateBias).map(GPT2.geluErf) }
            // The groups: their input, its width, the matrices they scale, the module output compared.
            let d = c.hiddenSize
            let groups: [([[Float]], Int, [WritableKeyPath<Weights, [Float]>], ([Float]) -> [Float])] = [
                (x, d, [\.q, \.k, \.v], { Self.affine(attention($0), o, layer.attentionOutputBias) }),
                (a, d, [\.o], { Self.affine($0, o, layer.attentionOutputBias) }),
                (x1, d, [\.up], mlp),
                (hidden, c.intermediateSize, [\.down], { Self.affine($0, down, layer.outputBias) }),
            ]
            for (g, (input, n, scaled, module)) in groups.enumerated() {
                var w = Weights(q: q, k: k, v: v, o: o, up: up, down: down)
                let original = w
                let expected = input.map(module)
                let losses = (0..<AWQ.grid).map { step -> Double in
                    let s = Self.scales(input, scaled.map { original[keyPath: $0] }, n: n, groupSize: 16, ratio: Float(step) / Float(AWQ.grid))
                    for m in scaled {
                        let out = original[keyPath: m].count / n
                        let wq = AWQ.pseudoQuantize((0..<(out * n)).map { original[keyPath: m][$0] * s[$0 % n] }, out: out, n: n, groupSize: 16).dequantized()
                        w[keyPath: m] = (0..<(out * n)).map { wq[$0] / s[$0 % n] }
                    }
                    (q, k, v, o, up, down) = (w.q, w.k, w.v, w.o, w.up, w.down)
                    defer { (q, k, v, o, up, down) = (original.q, original.k, original.v, original.o, original.up, original.down) }
                    var sum = 0.0, count = 0
                    for (e, got) in zip(expected, input.map(module)) {
                        for i in e.indices { sum += Double(e[i] - got[i]) * Double(e[i] - got[i]) }
                        count += e.count
                    }
                    return sum / Double(count)
                }
                let r = results[4 * l + g]
                let best = losses.indices.min { losses[$0] < losses[$1] }!
                let picked = Int((r.ratio * Double(AWQ.grid)).rounded())
                chosen.append(picked)
                // Equal up to float summation order; a near-tie may go either way.
                #expect(losses[picked] <= losses[best] * (1 + 1e-4), "\(r.name): picked ratio \(r.ratio) (loss \(losses[picked])), brute force \(Double(best) / 20) (loss \(losses[best]))")
                let worst = zip(r.losses, losses).map { abs($0 - $1) / $1 }.max()!
                #expect(worst < 1e-3, "\(r.name): losses differ from the brute force's by \(worst) relative")
                // The grid matters here: the worst ratio loses clearly to the best.
                #expect(losses.max()! > 1.5 * losses[best], "\(r.name): losses \(losses)")
            }
        }
        #expect(Set(chosen).count > 1, "every group picked the same ratio: \(chosen)")
    }

    /// The matrices a group may scale, by key path.
    struct Weights { var q, k, v, o, up, down: [Float] }

    /// AWQ's scales for one ratio (duo scaling): x̄ʳ / (w̄^(1−r) + 1e-4), at least 1e-4, over √(max·min).
    static func scales(_ x: [[Float]], _ weights: [[Float]], n: Int, groupSize: Int, ratio r: Float) -> [Float] {
        var xMean = [Float](repeating: 0, count: n), tokens = 0
        for sample in x { for t in 0..<(sample.count / n) { for i in 0..<n { xMean[i] += abs(sample[t * n + i]) } }; tokens += sample.count / n }
        var wMean = [Float](repeating: 0, count: n), rows = 0
        for w in weights {
            for row in 0..<(w.count / n) {
                for g in stride(from: 0, to: n, by: groupSize) {
                    let m = (g..<(g + groupSize)).map { abs(w[row * n + $0]) }.max()! + 1e-6
                    for i in g..<(g + groupSize) { wMean[i] += abs(w[row * n + i]) / m }
                }
                rows += 1
            }
        }
        let s = (0..<n).map { i in max(pow(xMean[i] / Float(tokens), r) / (pow(wMean[i] / Float(rows), 1 - r) + 1e-4), 1e-4) }
        let norm = (s.max()! * s.min()!).squareRoot()
        return s.map { $0 / norm }
    }

    /// x·Wᵀ + b, rows of `x` by rows of `w` (`[out, n]`).
    static func affine(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
        let out = b.count, n = w.count / out, rows = x.count / n
        var y = [Float](repeating: 0, count: rows * out)
        for t in 0..<rows { for j in 0..<out {
            var s = b[j]
            for i in 0..<n { s += x[t * n + i] * w[j * n + i] }
            y[t * out + j] = s
        } }
        return y
    }

    /// softmax(q·kᵀ/√head_size)·v per head, every position seeing every other.
    static func heads(_ q: [Float], _ k: [Float], _ v: [Float], d: Int, heads: Int) -> [Float] {
        let T = q.count / d, hs = d / heads
        var out = [Float](repeating: 0, count: T * d)
        for h in 0..<heads { for t in 0..<T {
            var p = (0..<T).map { j in (0..<hs).reduce(Float(0)) { $0 + q[t * d + h * hs + $1] * k[j * d + h * hs + $1] } / Float(hs).squareRoot() }
            let m = p.max()!
            p = p.map { exp($0 - m) }
            let total = p.reduce(0, +)
            for j in 0..<T { for i in 0..<hs { out[t * d + h * hs + i] += p[j] / total * v[j * d + h * hs + i] } }
        } }
        return out
    }

    /// The forward pass divides the inputs of query/key/value and intermediate.dense and gelu's output
    /// by the scales AWQ leaves there: with the matrices' inputs multiplied by the same scales (and no
    /// quantization), the embeddings are FP32's.
    @Test func inputScalesAndScaledActivationAreApplied() throws {
        let reference = try SentenceEncoder.load(BERTFixture.tiny)
        let scaled = try SentenceEncoder.load(BERTFixture.tiny)
        let bert = scaled.bert, c = bert.config
        var rng = BnbSeededRandom(7)
        for l in 0..<c.layerCount {
            for (g, group) in bert.awqGroups(block: l).enumerated() {
                let n = bert.linear(group.layers[0]).inFeatures
                let s = (0..<n).map { _ in Float.random(in: 0.25...4, using: &rng) }
                bert.awqScalePrevious(block: l, group: g, scales: s)
                for name in group.layers {
                    let w = bert.linear(name)
                    bert.setWeight(name, F32Linear(values: w.dequantized().enumerated().map { $1 * s[$0 % n] }, out: w.outFeatures, in: n))
                }
            }
        }
        #expect(bert.layers[1].attentionInputScales != nil && bert.layers[1].intermediateInputScales != nil && bert.layers[1].activationScales != nil)
        #expect(scaled.weights.contains { $0.name == "encoder.layer.1.intermediate.intermediate_act_fn.scales" && $0.storedBytes == 4 * c.intermediateSize })
        let e = try scaled.encode(Self.texts), expected = try reference.encode(Self.texts)
        #expect(BERTFixture.maxDiff(e.values, expected.values) < 2e-5)
        // Without the forward pass's division the same weights give other embeddings.
        for l in 0..<c.layerCount { bert.layers[l].intermediateInputScales = nil }
        #expect(BERTFixture.maxDiff(try scaled.encode(Self.texts).values, expected.values) > 0.01)
    }
}

extension MiniLMTests {
    /// AWQ on all-MiniLM-L6-v2 (4 bits, groups of 128, calibrated on 32 texts of WikiText-2 test):
    /// sentences it never saw keep embeddings closer to FP32's than round-to-nearest on the same
    /// asymmetric grid, and every linear layer is stored as AWQ's codes.
    @Test func awqKeepsEmbeddingsCloserThanRoundToNearest() throws {
        let awq = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(
            method: "awq", parameters: ["bits": 4, "group_size": 128], calibration: CalibrationConfig(text: "wikitext-2-raw:test", samples: 32, tokens: 62)))
        let rtn = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(method: "rtn", parameters: ["bits": 4, "group_size": 128, "sym": 0]))
        let formats = Dictionary(uniqueKeysWithValues: awq.weights.map { ($0.name, $0.format) })
        #expect(formats["encoder.layer.2.attention.self.key.weight"] == "awq" && formats["encoder.layer.5.output.dense.weight"] == "awq")
        #expect(formats["embeddings.word_embeddings.weight"] == "fp32")
        let a = try Self.meanCosineToFP32(awq), r = try Self.meanCosineToFP32(rtn)
        #expect(a > r && a < 1, "mean cosine to FP32: awq \(a), round-to-nearest \(r)")
    }
}
