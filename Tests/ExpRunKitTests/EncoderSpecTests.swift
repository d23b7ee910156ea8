// Encoder experiment files: texts / corpus and batch sizes parsed into one run per model ×
// quantization × threads (quality in the runs with the most threads), and the mistakes a person
// makes when mixing encoder and generation keys reported with line and fix.
import Foundation
import InferenceCore
import Testing
@testable import ExpRunKit

@Suite struct EncoderSpecTests {
    static let tinyBERT = TestPaths.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/bert/tiny-random").path

    func parse(_ text: String) throws -> ExperimentSpec {
        try SpecParser.parse(text: text, path: TestPaths.packageRoot.path + "/experiments/test.exp")
    }
    func problems(_ text: String) -> [SpecProblem] {
        do { _ = try parse(text); return [] } catch let e as SpecError { return e.problems } catch { return [] }
    }

    @Test func textsAndBatchSizesMakeOneRunPerConfigurationAndThreadCount() throws {
        let spec = try parse("""
            model: \(Self.tinyBERT)
            quantizations: [fp32, q8_0]
            texts: [A first sentence., "", Another one.]
            measure: {batch_sizes: [1, 32], threads: [1, 2], repeats: 2}
            """)
        let encoder = try #require(spec.encoder)
        #expect(encoder.texts == ["A first sentence.", "", "Another one."] && encoder.batchSizes == [1, 32] && encoder.timedTexts == nil)
        #expect(spec.prompts.isEmpty && spec.measure.baseline == "fp32")
        let plan = Plan(spec: spec, version: "test")
        #expect(plan.entries.count == 4 && Set(plan.entries.map(\.key)).count == 4)
        #expect(plan.entries.map { $0.encoder?.quality } == [false, true, false, true])
        #expect(plan.entries.allSatisfy { $0.encoder?.batchSizes == [1, 32] && $0.prompt.isEmpty })
        // The same file planned again gives the same keys; other texts give other keys.
        #expect(Plan(spec: spec, version: "test").entries.map(\.key) == plan.entries.map(\.key))
        var other = spec
        other.encoder?.texts = ["A first sentence."]
        #expect(Set(Plan(spec: other, version: "test").entries.map(\.key)).isDisjoint(with: plan.entries.map(\.key)))
        #expect(plan.describe().contains("encoder on 3 texts, batch sizes 1, 32"))
        #expect(plan.describe().contains("q8_0  threads=2  + quality against fp32"))
    }

    @Test func corpusLinesSkipBlankLinesAndHeadings() throws {
        let spec = try parse("""
            model: \(Self.tinyBERT)
            corpus: {text: wikitext-2-raw:test, lines: 5}
            measure: {timed_texts: 2}
            """)
        let encoder = try #require(spec.encoder)
        #expect(encoder.corpus == CorpusSettings(text: "wikitext-2-raw:test", lines: 5) && encoder.batchSizes == [32] && encoder.timedTexts == 2)
        let plan = try #require(Plan(spec: spec, version: "test").entries.first?.encoder)
        setenv("EXPRUN_DATA_DIR", TestPaths.sharedData.path, 1)
        let texts = try plan.loadTexts()
        let raw = try String(contentsOf: TestPaths.sharedData.appendingPathComponent("wikitext-2-raw/wiki.test.raw"), encoding: .utf8)
        let expected = raw.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("= ") }.prefix(5)
        #expect(texts == Array(expected))
        #expect(texts.first?.hasPrefix("Robert Boulter is an English film") == true)
    }

    @Test func mixingEncoderAndGenerationKeysIsExplained() {
        let p = problems("""
            model: \(Self.tinyBERT)
            texts: [one]
            prompts: [Once upon a time]
            generate: {max_new_tokens: 3}
            """)
        #expect(p.contains { $0.path == "prompts" && $0.line == 3 && $0.message.contains("an encoder experiment embeds `texts:` / `corpus:`") })
        #expect(p.contains { $0.path == "generate" && $0.line == 4 })
        let decoder = problems("""
            model: \(TestPaths.tinyModel)
            prompts: [Once upon a time]
            measure: {batch_sizes: [1]}
            """)
        #expect(decoder.contains { $0.path == "measure.batch_sizes" && $0.message.contains("is for encoder experiments") })
        let encoderWithPrompts = problems("""
            model: \(Self.tinyBERT)
            prompts: [Once upon a time]
            """)
        #expect(encoderWithPrompts.contains { $0.path == "model" && $0.message.contains("is a sentence encoder (model_type bert): give `texts:` or `corpus:`") })
        let decoderWithTexts = problems("""
            model: \(TestPaths.tinyModel)
            texts: [one]
            """)
        #expect(decoderWithTexts.contains { $0.path == "model" && $0.message.contains("is not a sentence encoder") })
        let random = problems("""
            model: \(Self.tinyBERT)
            weights: random
            texts: [one]
            """)
        #expect(random.contains { $0.path == "weights" && $0.line == 2 && $0.message.contains("random weights are not available for encoders") })
        let both = problems("""
            model: \(Self.tinyBERT)
            texts: [one]
            corpus: {text: wikitext-2-raw:test}
            measure: {batch_sizes: [0, 4, 4]}
            """)
        #expect(both.contains { $0.path == "corpus" && $0.line == 3 && $0.message.contains("not both") })
        #expect(both.contains { $0.path == "measure.batch_sizes[0]" && $0.message.contains("at least 1") })
        #expect(both.contains { $0.path == "measure.batch_sizes[2]" && $0.message.contains("listed twice") })
    }

    @Test func retrievalAgreementCountsSharedNeighbours() {
        // Four points on a line in 2-D, two of them swapped in the candidate: text 0's nearest
        // neighbour changes from 1 to 2, the others' lists stay.
        let base: [Float] = [1, 0, 0.9, 0.1, 0.7, 0.3, 0, 1]
        let same = EmbeddingAgreement.compare(base, base, count: 4, dimension: 2, k: 1)
        #expect(same.recall == 1 && abs(same.cosineMean - 1) < 1e-6 && same.k == 1)
        let swapped: [Float] = [1, 0, 0.7, 0.3, 0.9, 0.1, 0, 1]
        let r = EmbeddingAgreement.compare(swapped, base, count: 4, dimension: 2, k: 1)
        // Nearest under base: 0→1, 1→0, 2→1, 3→2; under swapped: 0→2, 1→2, 2→0, 3→1.
        #expect(abs(r.recall - 0) < 1e-9)
        #expect(abs(r.cosineMin - Double(0.7 * 0.9 + 0.3 * 0.1) / (Double(0.7 * 0.7 + 0.3 * 0.3).squareRoot() * Double(0.9 * 0.9 + 0.1 * 0.1).squareRoot())) < 1e-6)
        #expect(EmbeddingAgreement.compare(base, base, count: 4, dimension: 2).k == 3)
    }
}
