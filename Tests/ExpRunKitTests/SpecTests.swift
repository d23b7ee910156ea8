// Experiment files: every key of DESIGN.md's example, and each kind of mistake reported with
// file:line:column, key path and a suggestion, all problems at once.
import Foundation
import InferenceCore
import Testing
@testable import ExpRunKit

@Suite struct SpecTests {
    func parse(_ text: String) throws -> ExperimentSpec {
        try SpecParser.parse(text: text, path: TestPaths.packageRoot.path + "/experiments/test.exp")
    }

    func problems(_ text: String) -> [SpecProblem] {
        do { _ = try parse(text); return [] } catch let e as SpecError { return e.problems } catch { return [] }
    }

    @Test func everyKeyOfTheDesignExample() throws {
        let quantizations = Quantization.availableNames.map { "  - \($0)" }.joined(separator: "\n")
        let spec = try parse("""
            name: gpt2-quantization
            description: GPT-2 124M in FP32, INT8 and INT4 — memory and time for 50 tokens
            model: gpt2                       # Hub id, local HF directory, or a .gguf file
            weights: random
            quantizations:
            \(quantizations)
            prompts:
              - Once upon a time
            generate: {max_length: 50, temperature: 0}
            measure:
              repeats: 5
              warmup: 1
              threads: [1, 2]
              perplexity: {text: wikitext-2-raw:test, context: 512, chunks: 20}
              baseline: fp32
            report:
              charts: [memory, time, quality]
            """)
        #expect(spec.name == "gpt2-quantization")
        #expect(spec.description?.hasPrefix("GPT-2 124M") == true)
        #expect(spec.models == ["gpt2"])
        #expect(spec.weights == .random)
        #expect(spec.quantizations.map(\.method) == Quantization.availableNames)
        #expect(spec.prompts == ["Once upon a time"])
        #expect(spec.generate.maxLength == 50 && spec.generate.maxNewTokens == nil && spec.generate.temperature == 0)
        #expect(spec.measure.repeats == 5 && spec.measure.warmup == 1 && spec.measure.threads == [1, 2])
        #expect(spec.measure.perplexity == PerplexitySettings(text: "wikitext-2-raw:test", context: 512, chunks: 20))
        #expect(spec.measure.baseline == "fp32")
        #expect(spec.report.charts == ["memory", "time", "quality"])
    }

    @Test func maxLengthMeansPromptPlusNewTokens() {
        let g = GenerateSettings(maxLength: 50)
        #expect(g.newTokens(promptTokens: 4) == 46)       // "Once upon a time" is 4 GPT-2 tokens
        #expect(g.newTokens(promptTokens: 50) == nil)
        #expect(GenerateSettings(maxNewTokens: 7).newTokens(promptTokens: 100) == 7)
    }

    @Test func typoInAKeyPointsAtItAndSuggestsTheKey() {
        let p = problems("""
            model: gpt2
            prompts: [hi]
            measure:
              repeets: 5
            """)
        #expect(p.count == 1)
        #expect(p.first?.line == 4 && p.first?.column == 3)
        #expect(p.first?.path == "measure.repeets")
        #expect(p.first?.message.contains("did you mean `repeats`?") == true)
        #expect(p.first?.description.hasSuffix("test.exp:4:3: error: measure.repeets: unknown key `repeets`; did you mean `repeats`?") == true)
    }

    @Test func unknownQuantizationListsTheKnownMethods() {
        let p = problems("model: gpt2\nprompts: [hi]\nquantizations: [fp32, q9_9]\n")
        #expect(p.count == 1)
        #expect(p.first?.path == "quantizations[1]")
        #expect(p.first?.line == 3 && p.first?.column == 23)
        for method in Quantization.methods { #expect(p.first?.message.contains(method.name) == true) }
    }

    /// Every method of the catalogue, named alone in an experiment file: one that is not available
    /// yet is refused at its line with "not available yet" (and the list of those that are); one
    /// that is, is not refused for being unavailable. Whichever methods land, this checks each.
    @Test func everyKnownMethodIsAvailableOrSaysItIsNot() throws {
        for method in Quantization.methods {
            let p = problems("model: gpt2\nprompts: [hi]\nquantizations: [\(method.name)]\n")
            let unavailable = p.filter { $0.message.contains("not available yet") }
            if method.available {
                #expect(unavailable.isEmpty, "\(method.name): \(p)")
            } else {
                #expect(unavailable.count == 1, "\(method.name): \(p)")
                #expect(unavailable.first?.path == "quantizations[0]", "\(method.name)")
                #expect(unavailable.first?.line == 3)
                #expect(unavailable.first?.message.contains("available now: " + Quantization.availableNames.joined(separator: ", ")) == true)
            }
        }
        #expect(Quantization.methods.contains { $0.available })
    }

    @Test func calibratedMethodsTakeACalibrationSection() throws {
        let spec = try parse("""
            model: gpt2
            prompts: [hi]
            quantizations:
              - {method: gptq, bits: 4, group_size: 128, desc_act: true, calibration: {text: wikitext-2-raw:train, samples: 128, tokens: 512}}
              - {method: awq, group_size: 64, calibration: {ids: calib.safetensors}}
              - {method: rtn, bits: 4, group_size: 128}
            """)
        let q = spec.quantizations
        #expect(q.count == 3)
        #expect(q[0].parameters == ["bits": 4, "group_size": 128, "desc_act": 1])
        #expect(q[0].calibration == CalibrationConfig(text: "wikitext-2-raw:train", samples: 128, tokens: 512, seed: 0))
        #expect(q[0].description == "gptq(bits=4,desc_act=1,group_size=128)[calibration=wikitext-2-raw:train,128x512,seed=0]")
        #expect(q[1].calibration?.ids == "calib.safetensors" && q[1].calibration?.text == nil)
        #expect(q[2].calibration == nil)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let p = problems("""
            name: ok-name
            model: gpt2
            prompts: []
            generate: {max_new_tokens: zero, temprature: 1}
            measure: {repeats: 0, threads: [1, two], baseline: fp23}
            report: {charts: [memroy]}
            """)
        let paths = p.map(\.path)
        #expect(paths.contains("prompts"))
        #expect(paths.contains("generate.max_new_tokens"))
        #expect(paths.contains("generate.temprature"))
        #expect(paths.contains("measure.repeats"))
        #expect(paths.contains("measure.threads[1]"))
        #expect(paths.contains("measure.baseline"))
        #expect(paths.contains("report.charts[0]"))
        #expect(p.first { $0.path == "generate.temprature" }?.message.contains("`temperature`") == true)
        #expect(p.first { $0.path == "report.charts[0]" }?.message.contains("`memory`") == true)
        #expect(p.first { $0.path == "measure.baseline" }?.message.contains("`fp32`") == true)
        #expect(p.allSatisfy { $0.line >= 3 })
    }

    @Test func wrongTypesNameWhatWasFound() {
        let p = problems("model: {a: b}\nprompts: hello\nmeasure: {repeats: [5], warmup: -1}\ngenerate: {stop_at_eos: maybe}\n")
        #expect(p.first { $0.path == "model" }?.message.contains("expected text, found a mapping") == true)
        #expect(p.first { $0.path == "measure.repeats" }?.message.contains("expected a whole number, found a list") == true)
        #expect(p.first { $0.path == "measure.warmup" }?.message.contains("at least 0") == true)
        #expect(p.first { $0.path == "generate.stop_at_eos" }?.message.contains("true or false") == true)
        #expect(p.count == 4)   // a single prompt as a bare string is fine
    }

    @Test func badYAMLGivesItsPosition() {
        let p = problems("model: gpt2\nprompts: [unclosed\nmeasure: {}\n")
        #expect(p.count == 1)
        #expect(p.first?.message.hasPrefix("not valid YAML") == true)
        #expect((p.first?.line ?? 0) >= 2)
        #expect(problems("").first?.message.contains("empty") == true)
        #expect(problems("- a\n- b\n").first?.message.contains("expected a mapping") == true)
        #expect(problems("model: a\nmodel: b\nprompts: [x]\n").first?.message.contains("appears twice") == true)
    }

    @Test func hostileNumbersAreRejected() {
        let p = problems("model: gpt2\nprompts: [hi]\nmeasure: {timeout: 1e300, repeats: 99999999999999999999999, threads: [100000]}\n")
        #expect(Set(p.map(\.path)) == ["measure.timeout", "measure.repeats", "measure.threads[0]"])
    }

    @Test func emptyPromptsAndMissingKeys() {
        #expect(problems("model: gpt2\nprompts: []\n").first?.message.contains("the list is empty") == true)
        #expect(problems("model: gpt2\nprompts: ['']\n").first?.message.contains("is empty") == true)
        let missing = problems("name: x\n")
        #expect(Set(missing.map(\.path)) == ["model", "prompts"])
    }

    @Test func missingModelPathsAreErrors() {
        let p = problems("model: ./no-such-model\nprompts: [hi]\n")
        #expect(p.first?.message.contains("no such file or directory") == true)
        let dir = TestPaths.temporaryDirectory()
        let q = problems("model: \(dir)\nprompts: [hi]\n")
        #expect(q.first?.message.contains("has no config.json") == true)
        #expect(problems("model: [\(TestPaths.tinyModel), gpt2, 'not a model!']\nprompts: [hi]\n").map(\.path) == ["model[2]"])
    }

    @Test func quantizationParametersAreChecked() throws {
        let p = problems("model: gpt2\nprompts: [hi]\nquantizations: [{method: fp32, bits: 4}, {bits: 4}, fp32, fp32]\n")
        #expect(p.first { $0.path == "quantizations[0].bits" }?.message.contains("fp32 takes no parameters") == true)
        #expect(p.contains { $0.path == "quantizations[1].method" })
        #expect(p.first { $0.path == "quantizations[3]" }?.message.contains("listed twice") == true)
        let spec = try parse("model: gpt2\nprompts: [hi]\nquantizations: [{method: fp32, skip: [wte]}]\n")
        #expect(spec.quantizations == [QuantizationConfig(method: "fp32", skip: ["wte"])])
    }
}
