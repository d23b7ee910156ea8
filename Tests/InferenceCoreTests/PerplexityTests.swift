// Perplexity's chunking and scoring against the definition computed independently from one
// full-sequence forward pass per chunk (the split into a prefill half and scored batches must not
// change anything), and the KL / top-token comparison against sums written out in double.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct PerplexityTests {
    @Test func chunksScoreSecondHalvesAsLlamaPerplexity() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=2&n_embd=64&n_head=4&n_positions=32&seed=3")
        var rng = SeededRandom(seed: 9)
        let tokens = (0..<60).map { _ in Int(rng.next() % 50257) }
        let context = 16
        let result = try Perplexity.evaluate(model, tokens: tokens, context: context, chunks: 3, batch: 5)
        // Reference: each chunk whole (GPT-2 adds no BOS, so tokens are as they are), positions
        // 8 ... 14 predicting 9 ... 15.
        var nll: [Double] = []
        for i in 0..<3 {
            let chunk = Array(tokens[i * context ..< (i + 1) * context])
            let logits = try model.forward(chunk, cache: model.makeCache(capacity: context), allLogits: true)
            for p in context / 2 ..< context - 1 {
                let row = logits[p * 50257 ..< (p + 1) * 50257].map(Double.init)
                let m = row.max()!
                let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
                nll.append(lse - row[chunk[p + 1]])
            }
        }
        let mean = nll.reduce(0, +) / Double(nll.count)
        #expect(result.scored == 21 && result.chunks == 3)
        #expect(abs(result.meanNLL - mean) < 1e-4)
        #expect(abs(result.perplexity - exp(mean)) / exp(mean) < 1e-4)
        let sd = (nll.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(nll.count) / Double(nll.count - 1)).squareRoot()
        #expect(abs(result.uncertainty - sd * exp(mean)) / (sd * exp(mean)) < 1e-3)
        // Fewer tokens than two contexts is an error, as in llama-perplexity.
        #expect(throws: CoreError.self) { try Perplexity.evaluate(model, tokens: Array(tokens.prefix(31)), context: context) }
    }

    @Test func klDivergenceAndAgreement() throws {
        let base: [Float] = [1, 2, 3, 0, 0, 5]
        let other: [Float] = [1, 2, 3.5, 5, 0, 0]
        let r = try LogitComparison.compare(baseline: base, candidate: other, vocab: 3)
        func kl(_ a: [Double], _ b: [Double]) -> Double {
            let za = a.map(exp).reduce(0, +), zb = b.map(exp).reduce(0, +)
            return zip(a, b).reduce(0) { $0 + exp($1.0) / za * (($1.0 - log(za)) - ($1.1 - log(zb))) }
        }
        #expect(abs(r.kl[0] - kl([1, 2, 3], [1, 2, 3.5])) < 1e-9)
        #expect(abs(r.kl[1] - kl([0, 0, 5], [5, 0, 0])) < 1e-9)
        #expect(r.sameTop == [true, false] && r.topTokenAgreement == 0.5)
        #expect(try LogitComparison.compare(baseline: base, candidate: base, vocab: 3).meanKL == 0)
        #expect(throws: CoreError.self) { try LogitComparison.compare(baseline: base, candidate: [1], vocab: 3) }
    }
}
