// The GGUF files `exprun quantize` writes, as an independent reader sees them: PyPI's gguf package
// (llama.cpp's own Python library) read the same files when scripts/oracles/gguf-pypi-read.py made
// Oracles/gguf-pypi-read.json. Here exprun writes them again from the fixture: the bytes must be the
// ones gguf read (so its reading holds for these files), and exprun's own reader must find what
// gguf found. A change to the writer fails here until the script has read the new files.
import Foundation
import Testing
import ExpRunKit
@testable import InferenceCore

@Suite struct GGUFExportOracleTests {
    static let oracle = Result { () throws -> [String: Any] in
        let url = TestPaths.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/gguf-pypi-read.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test(arguments: ["f32", "f16", "q8_0", "q4_0", "q5_0", "q4_k", "q6_k"])
    func pypiGGUFReadTheseBytes(type: String) throws {
        let files = try #require(try Self.oracle.get()["files"] as? [String: [String: Any]])
        let expected = try #require(files[type])
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tiny-\(type).gguf"
        // What `exprun quantize ../shared/data/gpt2-tiny-random --to TYPE --out PATH` does.
        let model = try ModelLoader.load(TestPaths.tinyModel, quantization: .fp32, threads: 1)
        _ = try GGUFExport.write(model, type: try #require(GGMLFormat(rawValue: type)), tokenizerDirectory: TestPaths.tinyModel,
                                 name: "gpt2-tiny-random", to: path)
        #expect(try SHA256.hex(fileAt: path) == expected["sha256"] as? String,
                "\(type): the writer's bytes changed; run scripts/oracles/gguf-pypi-read.py to have PyPI's gguf read them")

        let file = try GGUFFile(path: path)
        #expect(file.version == expected["version"] as? Int)
        let tensors = try #require(expected["tensors"] as? [[String: Any]])
        #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as? String ?? "" })
        for (info, t) in zip(file.tensors, tensors) {
            #expect(info.dims == t["shape"] as? [Int], "\(info.name)")
            #expect(info.type.name == t["type"] as? String, "\(info.name)")
            #expect(info.fileOffset == t["offset"] as? Int && info.byteCount == t["bytes"] as? Int, "\(info.name)")
        }
        let metadata = try #require(expected["metadata"] as? [String: [String: Any]])
        #expect(try file.string("general.architecture") == metadata["general.architecture"]?["value"] as? String)
        #expect(try file.strings("tokenizer.ggml.tokens")?.count == (metadata["tokenizer.ggml.tokens"]?["value"] as? [String: Any])?["count"] as? Int)
        #expect(try file.int("gpt2.block_count") == metadata["gpt2.block_count"]?["value"] as? Int)
    }
}
