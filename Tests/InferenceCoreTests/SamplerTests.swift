// Sampling: greedy is argmax (first index on ties, as torch.argmax); with temperature the draws
// follow softmax(logits / T); top-k and top-p cut the candidates as transformers' warpers do; a
// seed fixes the sequence. Generation stops at the end-of-sequence token unless told not to.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct SamplerTests {
    func softmax(_ l: [Float], _ t: Float) -> [Double] {
        let m = l.max()!
        let e = l.map { Foundation.exp(Double(($0 - m) / t)) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func frequencies(_ sampler: inout Sampler, _ logits: [Float], draws: Int) -> [Double] {
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<draws { counts[sampler.next(logits)] += 1 }
        return counts.map { Double($0) / Double(draws) }
    }

    @Test func greedyIsFirstArgmax() {
        var s = Sampler()
        #expect(s.next([0.1, 3, -2, 3, 1]) == 1)
        #expect(s.next([-5, -4, -6]) == 1)
        var k1 = Sampler(temperature: 1, topK: 1, seed: 9)
        #expect((0..<50).allSatisfy { _ in k1.next([0.1, 3, -2, 2.9]) == 1 })
    }

    @Test(arguments: [Float(1), 0.5, 2])
    func drawsFollowTheTemperedSoftmax(temperature: Float) {
        let logits: [Float] = [1.0, 0.2, -0.5, 2.0, 0.0]
        var s = Sampler(temperature: temperature, seed: 42)
        let f = frequencies(&s, logits, draws: 40_000)
        for (a, b) in zip(f, softmax(logits, temperature)) { #expect(abs(a - b) < 0.01, "\(f) vs \(softmax(logits, temperature))") }
    }

    @Test func topKAndTopPCutTheCandidates() {
        let logits: [Float] = [0.5, 3.0, 1.0, 2.5, -1.0, 2.0]
        var k = Sampler(temperature: 1, topK: 3, seed: 1)
        let fk = frequencies(&k, logits, draws: 20_000)
        let kept = softmax([3.0, 2.5, 2.0], 1)
        #expect(fk[0] == 0 && fk[2] == 0 && fk[4] == 0)
        #expect(abs(fk[1] - kept[0]) < 0.015 && abs(fk[3] - kept[1]) < 0.015 && abs(fk[5] - kept[2]) < 0.015)
        // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps the first two (the smallest set reaching 0.75).
        let l: [Float] = [0.5, 0.3, 0.15, 0.05].map { Float(Foundation.log($0)) }
        var p = Sampler(temperature: 1, topP: 0.75, seed: 2)
        let fp = frequencies(&p, l, draws: 20_000)
        #expect(fp[2] == 0 && fp[3] == 0)
        #expect(abs(fp[0] - 0.625) < 0.015)
        var tiny = Sampler(temperature: 1, topP: 0.01, seed: 3)
        #expect((0..<100).allSatisfy { _ in tiny.next(l) == 0 })
    }

    @Test func seedFixesTheSequence() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=1&n_embd=32&n_head=2&vocab_size=200&n_positions=64&initializer_range=0.5&seed=5")
        let options = GenerationOptions(maxNewTokens: 30, stopAtEOS: false, temperature: 1, topK: 50, topP: 0.95, seed: 11)
        let a = try generate(model, prompt: [1, 2], options: options).tokens
        #expect(a == (try generate(model, prompt: [1, 2], options: options).tokens))
        var other = options; other.seed = 12
        #expect(a != (try generate(model, prompt: [1, 2], options: other).tokens))
        #expect(Set(a).count > 5, "sampling at temperature 1 should vary: \(a)")
    }

    /// The fixture with its config's eos_token_id set to the 5th greedy token (and no tokenizer
    /// files, so the config decides): generation stops right after producing it.
    @Test func stopsAtEndOfSequence() throws {
        let ref = try Fixture.reference()
        let greedy = try ref.tensor("greedy.once").toInt64Array().map(Int.init)
        let eos = greedy[4]
        #expect(!greedy[..<4].contains(eos))
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Fixture.copyConfig(to: dir) { $0 = $0.replacingOccurrences(of: "\"eos_token_id\": 50256", with: "\"eos_token_id\": \(eos)") }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("model.safetensors").path,
                                                   withDestinationPath: Fixture.tiny + "/model.safetensors")
        let model = try ModelLoader.load(dir.path)
        var seen: [Int] = []
        let r = try generate(model, prompt: [7454, 2402, 257, 640], options: GenerationOptions(maxNewTokens: 20)) { seen.append($0) }
        #expect(r.tokens == Array(greedy[..<5]) && seen == r.tokens)
        #expect(r.decodeStepSeconds.count == 4 && r.prefillSeconds > 0 && r.totalSeconds >= r.prefillSeconds)
        let all = try generate(model, prompt: [7454, 2402, 257, 640], options: GenerationOptions(maxNewTokens: 20, stopAtEOS: false))
        #expect(all.tokens == greedy)
    }
}
