// Directories `exprun quantize --to gptq|awq` writes, as AutoGPTQ's and AutoAWQ's own loaders read
// them (Oracles/hf-quant-loaders/, made by scripts/oracles/autogptq-autoawq-loaders.py): each case's
// command is run again and must write the same bytes the packages loaded (sha256 of every file),
// and `exprun logits` on that directory must give the package's logits — F32 activations
// (`--quant fp32`, the dequantized weights) within the case's atol + rtol·|logit|, and the packed
// codes' own kernel (`as-stored`, q8 activations) within its relative RMS error, same top-1.
import Foundation
import InferenceCore
import Testing
@testable import ExpRunKit

@Suite struct PackageLoaderEndToEndTests {
    struct Case: Decodable {
        var arguments: [String]
        var files: [String: String]
        var loader: String
        var tokens: [Int]
        var atol: Double
        var rtol: Double
        var asStoredRelativeRMS: Double

        enum CodingKeys: String, CodingKey {
            case arguments, files, loader, tokens, atol, rtol
            case asStoredRelativeRMS = "as_stored_relative_rms"
        }
    }

    struct Oracle: Decodable { var cases: [String: Case] }

    static let directory = Exprun.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/hf-quant-loaders")
    static let oracle: Oracle? = (try? Data(contentsOf: directory.appendingPathComponent("cases.json")))
        .flatMap { try? JSONDecoder().decode(Oracle.self, from: $0) }
    static let names = oracle.map { $0.cases.keys.sorted() } ?? []

    @Test func theOracleIsThere() {
        #expect(Self.names.count >= 3, "Oracles/hf-quant-loaders/cases.json is missing or unreadable")
    }

    @Test(arguments: names)
    func packagesLoadWhatExprunWrites(name: String) throws {
        let c = try #require(Self.oracle?.cases[name])
        let dir = Exprun.temporaryDirectory(name) + "/" + name
        let q = try Exprun.run(["quantize"] + c.arguments + ["--out", dir])
        #expect(q.status == 0, "\(q.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(written == c.files.keys.sorted(), "\(name): exprun wrote \(written), the package loaded \(c.files.keys.sorted())")
        for (file, sha) in c.files {
            #expect(try ExpRunKit.SHA256.hex(fileAt: dir + "/" + file) == sha, "\(name)/\(file) is not the file the package loaded")
        }

        let reference = try SafeTensorsFile(path: Self.directory.appendingPathComponent(name + ".safetensors").path)
        let expected = try reference.tensor("logits").toFloatArray()
        #expect(try reference.tensor("tokens").toInt64Array().map(Int.init) == c.tokens)
        let vocabulary = expected.count / c.tokens.count
        for quant in ["fp32", "as-stored"] {
            let out = dir + "/logits-\(quant).safetensors"
            let l = try Exprun.run(["logits", dir, "--quant", quant, "--tokens", c.tokens.map(String.init).joined(separator: ","),
                                    "--out", out, "--threads", "1"])
            #expect(l.status == 0, "\(l.stderr)")
            let ours = try SafeTensorsFile(path: out).tensor("logits").toFloatArray()
            try #require(ours.count == expected.count)
            if quant == "fp32" {
                let beyond = zip(ours, expected).filter { abs(Double($0 - $1)) > c.atol + c.rtol * abs(Double($1)) }.count
                #expect(beyond == 0, "\(name) fp32: \(beyond) of \(ours.count) logits beyond \(c.atol) + \(c.rtol)·|logit| of \(c.loader)'s")
            } else {
                let error = zip(ours, expected).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
                let norm = expected.map { Double($0) * Double($0) }.reduce(0, +)
                #expect((error / norm).squareRoot() <= c.asStoredRelativeRMS,
                        "\(name) as-stored: relative RMS \((error / norm).squareRoot()) against \(c.loader)'s, above \(c.asStoredRelativeRMS)")
            }
            for t in 0..<c.tokens.count {
                let row = t * vocabulary..<(t + 1) * vocabulary
                #expect(ours[row].indices.max { ours[$0] < ours[$1] } == expected[row].indices.max { expected[$0] < expected[$1] },
                        "\(name) \(quant): top-1 differs from \(c.loader)'s at position \(t)")
            }
        }
    }
}
