// Bad input must give one clear error line naming the file and what is wrong, never a crash:
// damaged safetensors files (made from the fixture by cutting or rewriting their header),
// configs with wrong types, missing files, token ids out of range.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct BadInputTests {
    /// Expects `body` to throw a CoreError whose one-line message contains every fragment.
    func expectError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("no error; expected one containing \(fragments)", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            #expect(error is CoreError, "\(type(of: error)): \(text)", sourceLocation: sourceLocation)
            #expect(!text.contains("\n"), "not one line: \(text)", sourceLocation: sourceLocation)
            for f in fragments { #expect(text.contains(f), "'\(text)' lacks '\(f)'", sourceLocation: sourceLocation) }
        }
    }

    /// A safetensors file from a raw header text and data size.
    func file(header: String, dataBytes: Int, in dir: URL, name: String = "model.safetensors") throws -> String {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(Data(count: dataBytes))
        let path = dir.appendingPathComponent(name).path
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func damagedSafetensorsHeaders() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, Int, [String])] = [
            (#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, 23, ["'a'", "beyond the end", "truncated"]),
            (#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, 24, ["'a'", "20 bytes", "needs 24"]),
            (#"{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, 2, ["'a'", "unknown dtype 'F8_E4M3'"]),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, ["overlap", "'a'", "'b'"]),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, ["'a'", "not an ordered range"]),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, 8, ["'a'", "non-negative"]),
            (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, 8, ["'a'", "larger than the whole file"]),
            (#"{"a":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}}"#, 0, ["'a'", "too many elements"]),
            (#"{"a":{"dtype":"F32","shape":[2]}}"#, 8, ["'a'", "data_offsets"]),
            (#"{"a": [1, 2"#, 8, ["not valid JSON"]),
            (#"[1, 2]"#, 8, ["not a JSON object"]),
        ]
        for (header, data, fragments) in cases {
            let path = try file(header: header, dataBytes: data, in: dir)
            expectError([path] + fragments) { _ = try SafeTensorsFile(path: path) }
        }
        // A header length pointing past the end, a hostile header length, a file too short.
        var bytes = Data()
        withUnsafeBytes(of: UInt64(1000).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(Data("{}".utf8))
        let path = dir.appendingPathComponent("short.safetensors").path
        try bytes.write(to: URL(fileURLWithPath: path))
        expectError([path, "runs past the end", "truncated"]) { _ = try SafeTensorsFile(path: path) }
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64.max.littleEndian) { Data($0) })
        try bytes.write(to: URL(fileURLWithPath: path))
        expectError([path, "not plausible"]) { _ = try SafeTensorsFile(path: path) }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        expectError([path, "too short"]) { _ = try SafeTensorsFile(path: path) }
        try Data().write(to: URL(fileURLWithPath: path))
        expectError([path, "empty"]) { _ = try SafeTensorsFile(path: path) }
    }

    @Test func truncatedCheckpoint() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Fixture.copyConfig(to: dir)
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixture.tiny + "/model.safetensors"))
        let path = dir.appendingPathComponent("model.safetensors").path
        try whole.prefix(whole.count - 1000).write(to: URL(fileURLWithPath: path))
        expectError([path, "beyond the end", "truncated"]) { _ = try ModelLoader.load(dir.path) }
        try whole.prefix(100).write(to: URL(fileURLWithPath: path))
        expectError([path, "runs past the end"]) { _ = try ModelLoader.load(dir.path) }
    }

    @Test func configErrors() throws {
        let edits: [(String, String, [String])] = [
            ("\"n_embd\": 64", "\"n_embd\": \"64\"", ["config.json", "n_embd must be an integer, found \"64\""]),
            ("\"n_head\": 4", "\"n_head\": 5", ["n_embd (64) must be a multiple of n_head (5)"]),
            ("\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": [1]", ["layer_norm_epsilon must be a number, found [1]"]),
            ("\"n_layer\": 2", "\"n_layer\": 3", ["too few for the n_layer=3"]),
            ("\"n_layer\": 2", "\"n_layer\": 4000000000000000000", ["n_layer = 4000000000000000000 is implausibly large"]),
            ("\"n_layer\": 2", "\"n_layer\": 1", ["unexpected tensor 'transformer.h.1."]),
            ("\"n_embd\": 64", "\"n_embd\": 32", ["has shape [64]", "implies [32]"]),
            ("\"model_type\": \"gpt2\"", "\"model_type\": \"falcon\"", ["model_type 'falcon' is not supported", "llama, mistral, qwen2, qwen3"]),
            ("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\"", ["model.safetensors", "missing tensor 'model.embed_tokens.weight'"]),
            ("\"activation_function\": \"gelu_new\"", "\"activation_function\": \"gelu_old\"", ["activation_function 'gelu_old'"]),
            ("\"n_layer\": 2,", "\"n_layer\": 2,,", ["config.json", "not valid JSON"]),
        ]
        for (from, to, fragments) in edits {
            let dir = try Fixture.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try Fixture.copyConfig(to: dir) { $0 = $0.replacingOccurrences(of: from, with: to) }
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("model.safetensors").path,
                                                       withDestinationPath: Fixture.tiny + "/model.safetensors")
            expectError(fragments) { _ = try ModelLoader.load(dir.path) }
        }
    }

    @Test func missingFilesAndShards() throws {
        expectError(["/no/such/model", "no such file"]) { _ = try ModelLoader.load("/no/such/model") }
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        expectError(["config.json", "no such file"]) { _ = try ModelLoader.load(dir.path) }
        try Fixture.copyConfig(to: dir)
        expectError(["no model.safetensors"]) { _ = try ModelLoader.load(dir.path) }
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        try #"{"weight_map": {"transformer.wte.weight": "model-00001-of-00002.safetensors"}}"#.write(to: index, atomically: true, encoding: .utf8)
        expectError([index.path, "shard 'model-00001-of-00002.safetensors'", "missing"]) { _ = try ModelLoader.load(dir.path) }
        try #"{"weight_map": {"transformer.wte.weight": "../model.safetensors"}}"#.write(to: index, atomically: true, encoding: .utf8)
        expectError([index.path, "not a plain file name"]) { _ = try ModelLoader.load(dir.path) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("a.safetensors").path,
                                                   withDestinationPath: Fixture.tiny + "/model.safetensors")
        try #"{"weight_map": {"transformer.nope": "a.safetensors"}}"#.write(to: index, atomically: true, encoding: .utf8)
        expectError([index.path, "'transformer.nope'", "no such tensor"]) { _ = try ModelLoader.load(dir.path) }
    }

    @Test func badTokensAndReferences() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=1&n_embd=32&n_head=2&vocab_size=100&n_positions=8")
        expectError(["token id 100 is out of range", "100 tokens"]) { _ = try model.forward([1, 100], cache: model.makeCache(capacity: 2), allLogits: false) }
        expectError(["token id -1 is out of range"]) { _ = try model.forward([-1], cache: model.makeCache(capacity: 2), allLogits: false) }
        expectError(["exceeds the context of 8"]) { _ = try model.forward(Array(0..<9), cache: model.makeCache(capacity: 9), allLogits: false) }
        expectError(["exceed the model's context of 8"]) { _ = try generate(model, prompt: [1, 2, 3], options: GenerationOptions(maxNewTokens: 7)) }
        expectError(["prompt is empty"]) { _ = try generate(model, prompt: [], options: GenerationOptions(maxNewTokens: 1)) }
        expectError(["'n_layr' is not a GPT-2 config key", "did you mean 'n_layer'"]) { _ = try ModelLoader.load("random:gpt2?n_layr=2") }
        expectError(["n_embd must be an integer, found \"big\""]) { _ = try ModelLoader.load("random:gpt2?n_embd=big") }
        expectError(["do not fit in this machine's memory"]) { _ = try ModelLoader.load("random:gpt2?n_embd=4000000000&n_head=1") }
        expectError(["n_embd = 9000000000000000000 is implausibly large"]) { _ = try ModelLoader.load("random:gpt2?n_embd=9000000000000000000") }
        expectError(["unknown random model 'llama'"]) { _ = try ModelLoader.load("random:llama") }
    }
}
