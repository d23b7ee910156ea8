// The plan: the matrix of a spec, with keys that depend on content and nothing else.
import Foundation
import Testing
@testable import ExpRunKit

@Suite struct PlanTests {
    func plan(_ text: String, version: String = "1.0") throws -> Plan {
        Plan(spec: try SpecParser.parse(text: text, path: "/tmp/x.exp"), version: version)
    }

    let base = """
        name: p
        model: [gpt2, openai-community/gpt2]
        prompts: [a, b, c]
        measure: {threads: [1, 2], repeats: 3}
        """

    @Test func matrixOfModelsQuantizationsThreadsPrompts() throws {
        let p = try plan(base)
        #expect(p.entries.count == 2 * 1 * 2 * 3)
        #expect(Set(p.entries.map(\.key)).count == p.entries.count)
        #expect(p.entries.allSatisfy { $0.key.count == 64 && $0.key.allSatisfy(\.isHexDigit) })
        #expect(p.entries.first?.model == "gpt2" && p.entries.last?.model == "openai-community/gpt2")
        #expect(p.describe().split(separator: "\n").count == 1 + p.entries.count)
    }

    @Test func keysIgnoreFormattingButNotContent() throws {
        let a = try plan(base)
        let reformatted = try plan("""
            # the same experiment, written differently
            measure:
              repeats: 3
              threads:
                - 1
                - 2
            prompts:
              - a
              - "b"
              - 'c'
            model:
              - gpt2
              - openai-community/gpt2
            name: p
            """)
        #expect(a.entries.map(\.key) == reformatted.entries.map(\.key))
        let changes = [
            base.replacingOccurrences(of: "repeats: 3", with: "repeats: 4"),
            base.replacingOccurrences(of: "[a, b, c]", with: "[a, b, d]"),
            base + "\ngenerate: {max_new_tokens: 21}",
            base + "\nweights: random",
        ]
        for changed in changes {
            let keys = Set(try plan(changed).entries.map(\.key))
            #expect(keys != Set(a.entries.map(\.key)))
        }
        #expect(Set(try plan(base, version: "1.1").entries.map(\.key)).isDisjoint(with: Set(a.entries.map(\.key))))
    }

    /// Perplexity does not depend on the prompt: one run per configuration scores it.
    @Test func perplexityIsPlannedOncePerConfiguration() throws {
        let p = try plan(base.replacingOccurrences(of: "measure: {threads: [1, 2], repeats: 3}",
                                                   with: "measure: {threads: [1, 2], perplexity: {text: wikitext-2-raw:test, chunks: 2}}")
                         + "\nquantizations: [fp32, q8_0]")
        let scored = p.entries.filter { $0.perplexity != nil }
        #expect(scored.count == 2 * 2 * 2)                                  // models × quantizations × threads
        #expect(scored.allSatisfy { $0.prompt == "a" })
        #expect(Set(scored.map { "\($0.model)|\($0.quantization)|\($0.threads)" }).count == scored.count)
    }
}
