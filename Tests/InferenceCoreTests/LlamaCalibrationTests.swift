// The calibration pass on the Llama family (Calibration/LlamaCalibration.swift), on small random
// models with each switch of Models/Llama.swift: a Gemma 3-like one (grouped-query attention, q/k
// norms, post norms, GeGLU, a sliding window, √d embedding scale, soft-cap) and a Llama/Qwen2-like
// one (q/k/v biases, SiLU, as many k/v heads as heads, so AWQ's v → o group exists). The oracles
// are properties that must hold: the block cut at its linear layers computes the model's own
// forward pass; AWQ's scales folded into the previous ops leave the model's function unchanged;
// GPTQ's layer error on the Hessian each layer saw is below round-to-nearest's on the same grid,
// and so is the model's KL divergence from FP32.
import Foundation
import Testing
@testable import InferenceCore

enum RandomLlama {
    static func config(gemmaLike: Bool) -> LlamaConfig {
        let heads = 4, kv = gemmaLike ? 2 : 4
        return LlamaConfig(architecture: gemmaLike ? "gemma3" : "qwen2", vocabSize: 256, contextLength: 64, embeddingSize: 64,
                           layerCount: 2, headCount: heads, kvHeadCount: kv, headSize: 16, feedForwardSize: 96,
                           rmsEpsilon: 1e-6, ropeStyle: .halves, ropeDimensions: 16, ropeBase: 10000, ropeScale: 1,
                           ropeFrequencyFactors: nil, slidingWindow: gemmaLike ? 8 : nil, isLocal: gemmaLike ? [true, false] : [false, false],
                           localRopeBase: 10000, activation: gemmaLike ? .geluTanh : .silu, embeddingScale: gemmaLike ? 8 : 1,
                           attentionScale: 0.25, hasQKNorm: gemmaLike, hasPostNorms: gemmaLike, hasQKVBias: !gemmaLike,
                           finalLogitSoftcap: gemmaLike ? 30 : nil, tiedHead: true)
    }

    static func model(gemmaLike: Bool, seed: UInt64 = 1) -> Llama {
        let c = config(gemmaLike: gemmaLike)
        var rng = SeededRandom(seed: seed)
        func normal(_ n: Int, _ std: Float) -> [Float] {
            var v = [Float](repeating: 0, count: n)
            v.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, std: std) }
            return v
        }
        func linear(_ out: Int, _ n: Int) -> LinearWeight { F32Linear(values: normal(out * n, 0.1), out: out, in: n) }
        // Norm weights away from 1 and a few strong input channels, as trained models have: what AWQ's scales are for.
        func norm(_ n: Int) -> [Float] { (0..<n).map { i in (i % 13 == 0 ? 4 : 1) * (0.5 + rng.nextUnitFloat()) } }
        let d = c.embeddingSize, f = c.feedForwardSize
        let layers = (0..<c.layerCount).map { _ in
            LlamaLayer(attentionNorm: norm(d), q: linear(c.qDim, d), k: linear(c.kvDim, d), v: linear(c.kvDim, d), o: linear(d, c.qDim),
                       qBias: c.hasQKVBias ? normal(c.qDim, 0.1) : nil, kBias: c.hasQKVBias ? normal(c.kvDim, 0.1) : nil,
                       vBias: c.hasQKVBias ? normal(c.kvDim, 0.1) : nil,
                       qNorm: c.hasQKNorm ? norm(c.headSize) : nil, kNorm: c.hasQKNorm ? norm(c.headSize) : nil,
                       postAttentionNorm: c.hasPostNorms ? norm(d) : nil, feedForwardNorm: norm(d),
                       gate: linear(f, d), up: linear(f, d), down: linear(d, f), postFeedForwardNorm: c.hasPostNorms ? norm(d) : nil)
        }
        let embedding = F32Linear(values: normal(c.vocabSize * d, 0.125), out: c.vocabSize, in: d)
        return Llama(config: c, embedding: embedding, layers: layers, outputNorm: norm(d), head: embedding, weights: [],
                     tokenizer: nil, threads: 2)
    }

    static func windows(_ count: Int, _ tokens: Int, seed: UInt64) -> [[Int]] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in (0..<tokens).map { _ in Int(rng.next() % 256) } }
    }

    static func logits(_ model: Llama, _ ids: [Int]) throws -> [Float] {
        try model.forward(ids, cache: model.makeCache(capacity: ids.count), allLogits: true)
    }

    /// Mean KL(p ‖ q) over every position of `windows`.
    static func meanKL(_ p: Llama, _ q: Llama, _ windows: [[Int]]) throws -> Double {
        var total = 0.0, count = 0
        for ids in windows {
            let a = try logits(p, ids), b = try logits(q, ids), v = p.config.vocabSize
            for r in 0..<ids.count {
                let x = a[(r * v)..<(r * v + v)].map(Double.init), y = b[(r * v)..<(r * v + v)].map(Double.init)
                let mx = x.max()!, my = y.max()!
                let zx = log(x.map { exp($0 - mx) }.reduce(0, +)), zy = log(y.map { exp($0 - my) }.reduce(0, +))
                total += zip(x, y).map { exp($0 - mx - zx) * (($0 - mx - zx) - ($1 - my - zy)) }.reduce(0, +)
                count += 1
            }
        }
        return total / Double(count)
    }
}

@Suite struct LlamaCalibrationTests {
    /// Embedding, every group's `advance`, then the output norm and head: the forward pass's logits.
    @Test(arguments: [true, false])
    func blockCutAtItsLinearLayersIsTheForwardPass(gemmaLike: Bool) throws {
        let model = RandomLlama.model(gemmaLike: gemmaLike)
        let ids = RandomLlama.windows(1, 24, seed: 5)[0], T = ids.count, c = model.config
        var state = [model.embed(ids)]
        for l in 0..<model.blockCount {
            for k in model.sequentialGroups(block: l).indices { state = model.advance(block: l, group: k, state: state, tokens: T) }
        }
        let h = model.normalized(state[0], T, model.outputNorm)
        var mine = model.product(model.head, h, T, nil)
        if let cap = c.finalLogitSoftcap { mine = mine.map { cap * Foundation.tanh($0 / cap) } }
        let reference = try RandomLlama.logits(model, ids)
        let scale = reference.map(abs).max()!
        let worst = zip(mine, reference).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "largest difference \(worst) of logits up to \(scale)")
    }

    /// AWQ with every layer skipped still searches and folds its scales: the model must compute
    /// what it computed before.
    @Test(arguments: [true, false])
    func awqScalesFoldedIntoThePreviousOpsKeepTheFunction(gemmaLike: Bool) throws {
        let model = RandomLlama.model(gemmaLike: gemmaLike)
        let ids = RandomLlama.windows(1, 24, seed: 6)[0]
        let before = try RandomLlama.logits(model, ids)
        var groups: [String] = []
        _ = try AWQ.quantize(model, samples: RandomLlama.windows(4, 32, seed: 2), groupSize: 32, duoScaling: true,
                             skip: { _ in true }, observe: { groups.append($0.name) })
        #expect(groups.contains { $0.hasSuffix("attn_v->attn_output") } == !gemmaLike, "\(groups)")
        #expect(groups.count == (gemmaLike ? 6 : 8))
        let after = try RandomLlama.logits(model, ids)
        let scale = before.map(abs).max()!
        let worst = zip(before, after).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-3 * scale, "largest change \(worst) of logits up to \(scale)")
    }

    /// GPTQ (4-bit, groups of 32, act-order) on the true-sequential pass against round-to-nearest on
    /// the same grid: every layer's tr(ΔW H ΔWᵀ)/tr(W H Wᵀ) on the Hessian it saw, and the KL
    /// divergence from FP32 on held-out windows.
    @Test(arguments: [true, false])
    func gptqBeatsRoundToNearest(gemmaLike: Bool) throws {
        let model = RandomLlama.model(gemmaLike: gemmaLike), fp32 = RandomLlama.model(gemmaLike: gemmaLike)
        let rtn = RandomLlama.model(gemmaLike: gemmaLike)
        let config = GPTQConfiguration(bits: 4, groupSize: 32, symmetric: true, actOrder: true)
        var hessians: [String: [Float]] = [:]
        let report = try CalibrationPass.gptq(model, samples: RandomLlama.windows(8, 32, seed: 3), config: config,
                                              trueSequential: true, hessians: { hessians[$0] = $1 })
        #expect(report.layers.count == 14)
        for l in 0..<model.blockCount {
            for name in model.sequentialGroups(block: l).joined() {
                let w = fp32.linear(name).dequantized(), out = fp32.linear(name).outFeatures, n = fp32.linear(name).inFeatures
                let q = model.linear(name)
                #expect(q is GroupQuantizedLinear, "\(name) is not stored as GPTQ codes")
                let nearest = try RoundToNearest.quantize(WeightRows(w, out: out, in: n), config: config, layer: name)
                rtn.setWeight(name, try GroupQuantizedLinear(nearest, format: "rtn"))
                let h = try #require(hessians[name])
                let mine = GPTQModelTests.layerError(w: w, q: q.dequantized(), h: h, out: out, n: n)
                let theirs = GPTQModelTests.layerError(w: w, q: nearest.dequantized(), h: h, out: out, n: n)
                #expect(mine < theirs, "\(name): GPTQ's layer error \(mine), round-to-nearest's \(theirs)")
            }
        }
        let held = RandomLlama.windows(8, 32, seed: 9)
        let kl = try RandomLlama.meanKL(fp32, model, held), klRTN = try RandomLlama.meanKL(fp32, rtn, held)
        #expect(kl < klRTN, "KL to FP32: GPTQ \(kl), round-to-nearest \(klRTN)")
    }
}
