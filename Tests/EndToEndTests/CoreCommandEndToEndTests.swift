// `exprun generate` and `exprun logits` as a user runs them: the numbers they print or write
// match transformers' oracles for the tiny GPT-2, and bad input ends in one `exprun: error:` line
// and a non-zero status, never a crash.
import Foundation
import Testing
import InferenceCore

@Suite struct CoreCommandEndToEndTests {
    let reference = Exprun.tinyModel + "/reference-outputs.safetensors"

    @Test func logitsFileMatchesTransformers() throws {
        let dir = Exprun.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/logits.safetensors"
        let r = try Exprun.run(["logits", Exprun.tinyModel, "--tokens", "7454,2402,257,640", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let written = try SafeTensorsFile(path: out).tensor("logits")
        let expected = try SafeTensorsFile(path: reference).tensor("logits.once")
        #expect(written.dtype == .f32 && written.shape == [4, 50257])
        let diff = zip(try written.toFloatArray(), try expected.toFloatArray()).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(diff < 1e-4)
    }

    @Test func generateMatchesTransformersGreedy() throws {
        let r = try Exprun.run(["generate", Exprun.tinyModel, "--prompt", "Once upon a time", "--max-new-tokens", "20",
                                "--ignore-eos", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try SafeTensorsFile(path: reference).tensor("greedy.once").toInt64Array().map(Int.init)
        let line = r.stderr.split(separator: "\n").first { $0.hasPrefix("generated tokens: ") }
        let ids = line.map { $0.dropFirst("generated tokens: ".count).split(separator: " ").compactMap { Int($0) } }
        #expect(ids == expected)
        #expect(r.stderr.contains("prompt tokens: 7454 2402 257 640"))
        let tokenizer = try Tokenizers.load(directory: Exprun.tinyModel)
        #expect(r.stdout == (try tokenizer.decode(expected)) + "\n")
        #expect(r.stderr.contains("decode: 19 tokens in"))
    }

    @Test func badInputEndsInOneErrorLine() throws {
        let dir = Exprun.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A truncated checkpoint and a config with a wrong type.
        let truncated = dir + "/truncated", badConfig = dir + "/bad-config"
        for d in [truncated, badConfig] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let weights = try Data(contentsOf: URL(fileURLWithPath: Exprun.tinyModel + "/model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: URL(fileURLWithPath: truncated + "/model.safetensors"))
        try FileManager.default.copyItem(atPath: Exprun.tinyModel + "/config.json", toPath: truncated + "/config.json")
        try FileManager.default.createSymbolicLink(atPath: badConfig + "/model.safetensors", withDestinationPath: Exprun.tinyModel + "/model.safetensors")
        let config = try String(contentsOfFile: Exprun.tinyModel + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"n_embd\": 64", with: "\"n_embd\": \"64\"").write(toFile: badConfig + "/config.json", atomically: true, encoding: .utf8)

        let cases: [([String], String)] = [
            (["logits", Exprun.tinyModel, "--tokens", "7454,50257", "--out", dir + "/x.safetensors"], "token id 50257 is out of range"),
            (["generate", Exprun.tinyModel, "--tokens", "1,abc"], "'abc' is not a token id"),
            (["generate", dir + "/missing", "--prompt", "hi"], "no such file or directory"),
            (["generate", truncated, "--prompt", "hi"], "truncated"),
            (["logits", badConfig, "--tokens", "1", "--out", dir + "/x.safetensors"], "n_embd must be an integer, found \"64\""),
            (["generate", Exprun.tinyModel, "--prompt", "hi", "--max-new-tokens", "300"], "exceed the model's context of 256"),
            (["generate", Exprun.tinyModel, "--prompt", "hi", "--quant", "q9_9"], "unknown method 'q9_9'"),
        ]
        for (arguments, fragment) in cases {
            let r = try Exprun.run(arguments)
            #expect(r.status == 1, "\(arguments): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("exprun: error: ") && lines[0].contains(fragment), "\(arguments): \(r.stderr)")
        }
    }
}
