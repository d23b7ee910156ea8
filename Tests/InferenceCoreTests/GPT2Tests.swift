// GPT-2 against transformers: logits and greedy continuations of the tiny random checkpoint
// (`../shared/data/gpt2-tiny-random`, oracles computed by transformers 5.17 in float32), also after
// rewriting the checkpoint in other layouts and precisions, plus properties any correct
// implementation has (incremental decoding = full-sequence logits).
import Foundation
import Testing
@testable import InferenceCore

enum Fixture {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")
    static let tiny = data.appendingPathComponent("gpt2-tiny-random").path
    static let prompts: [(String, [Int])] = [("once", [7454, 2402, 257, 640]), ("hello", [15496, 11, 616, 1438, 318]), ("single", [464])]

    static func reference() throws -> SafeTensorsFile {
        try SafeTensorsFile(path: tiny + "/reference-outputs.safetensors")
    }

    /// Every folder the tests make lies in one folder of this test process, removed when the
    /// process exits (whole runs used to leave their folders behind: 26 GB on this project's machine). Every test
    /// target names the same folder, so whichever exits it first removes it.
    static let root: String = {
        let dir = NSTemporaryDirectory() + "exprun-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "exprun-tests-\(getpid())") }
        return dir
    }()

    /// A fresh temporary directory (inside `root`).
    static func temporaryDirectory() throws -> URL {
        let u = URL(fileURLWithPath: root).appendingPathComponent("core-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Copies config.json (optionally edited) into `dir`.
    static func copyConfig(to dir: URL, edit: (inout String) -> Void = { _ in }) throws {
        var text = try String(contentsOfFile: tiny + "/config.json", encoding: .utf8)
        edit(&text)
        try text.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Greedy continuation of `prompt` for `n` tokens, never stopping at EOS.
    static func greedy(_ model: LanguageModel, _ prompt: [Int], _ n: Int = 20) throws -> [Int] {
        try generate(model, prompt: prompt, options: GenerationOptions(maxNewTokens: n, stopAtEOS: false)).tokens
    }
}

/// `t` converted to F16 or BF16 (round to nearest even), for low-precision copies of the fixture.
func converted(_ t: Tensor, to dtype: DType) throws -> Tensor {
    let v = try t.toFloatArray()
    let s = Storage(byteCount: v.count * 2)
    let p = s.base.assumingMemoryBound(to: UInt16.self)
    for (i, x) in v.enumerated() {
        if dtype == .f16 { p[i] = Float16(x).bitPattern }
        else {
            let b = x.bitPattern
            p[i] = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
        }
    }
    return Tensor(dtype: dtype, shape: t.shape, storage: s)
}

@Suite struct GPT2Tests {
    @Test func logitsMatchTransformers() throws {
        let model = try ModelLoader.load(Fixture.tiny)
        let ref = try Fixture.reference()
        for (name, prompt) in Fixture.prompts {
            let expected = try ref.tensor("logits.\(name)")
            #expect(expected.shape == [prompt.count, 50257])
            let logits = try model.forward(prompt, cache: model.makeCache(capacity: prompt.count), allLogits: true)
            let diff = Fixture.maxAbsDifference(logits, try expected.toFloatArray())
            #expect(diff < 1e-4, "\(name): max abs difference \(diff)")
        }
    }

    @Test(arguments: [1, 3])
    func greedyMatchesTransformers(threads: Int) throws {
        let model = try ModelLoader.load(Fixture.tiny, threads: threads)
        let ref = try Fixture.reference()
        for (name, prompt) in Fixture.prompts {
            let expected = try ref.tensor("greedy.\(name)").toInt64Array().map(Int.init)
            #expect(try Fixture.greedy(model, prompt) == expected, "\(name)")
        }
    }

    @Test func incrementalDecodingEqualsFullSequence() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=2&n_embd=48&n_head=3&vocab_size=300&n_positions=40&seed=3", threads: 2)
        let tokens = [5, 17, 299, 0, 42, 42, 7, 123, 250, 1]
        let full = try model.forward(tokens, cache: model.makeCache(capacity: tokens.count), allLogits: true)
        // One token at a time, then in uneven chunks: every position's logits must agree.
        let cache = model.makeCache(capacity: tokens.count)
        for (t, token) in tokens.enumerated() {
            let step = try model.forward([token], cache: cache, allLogits: false)
            let row = Array(full[t * 300 ..< (t + 1) * 300])
            #expect(Fixture.maxAbsDifference(step, row) < 1e-5, "position \(t)")
        }
        let chunked = model.makeCache(capacity: tokens.count)
        var rows: [Float] = []
        for chunk in [[5, 17, 299], [0], [42, 42, 7, 123], [250, 1]] {
            rows += try model.forward(chunk, cache: chunked, allLogits: true)
        }
        #expect(Fixture.maxAbsDifference(rows, full) < 1e-5)
    }

    /// Decode's attention sweeps the cached positions row by row (`decodeAttention`); a prompt's
    /// last position runs the per-head loop over the same positions. Same arithmetic in the same
    /// order: the same bits, for 64-wide heads (GPT-2's) and others, on one thread and split by heads.
    @Test(arguments: [(768, 12, 1), (768, 12, 2), (48, 3, 2), (96, 2, 1)])
    func decodeAttentionEqualsAPromptsLastRow(width: Int, heads: Int, threads: Int) throws {
        let model = try #require(try ModelLoader.load("random:gpt2?n_layer=1&n_embd=\(width)&n_head=\(heads)&vocab_size=10&n_positions=200&seed=5",
                                                      threads: threads) as? GPT2)
        let d = width, positions = 150
        var rng = SystemRandomNumberGenerator()
        let keys = (0..<positions * d).map { _ in Float.random(in: -2...2, using: &rng) }
        let values = (0..<positions * d).map { _ in Float.random(in: -2...2, using: &rng) }
        var qkv = (0..<2 * 3 * d).map { _ in Float.random(in: -2...2, using: &rng) }
        var two = [Float](repeating: 0, count: 2 * d), one = [Float](repeating: 0, count: d)
        var k = keys, v = values
        model.attention(queries: &qkv, rows: 2, start: positions - 2, layer: 0, keys: &k, values: &v, into: &two)
        qkv.withUnsafeMutableBufferPointer { q in
            model.attention(queries: q.baseAddress! + 3 * d, rows: 1, start: positions - 1, layer: 0, keys: &k, values: &v, into: &one)
        }
        #expect(one == Array(two[d...]))
        #expect(one.contains { $0 != 0 })
    }

    @Test func otherShapeRuns() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=3&n_embd=96&n_head=6&n_inner=200&vocab_size=1000&n_positions=64&seed=1", threads: 2)
        let g = model as! GPT2
        #expect(g.config.innerSize == 200 && g.config.headSize == 16)
        #expect(model.parameterCount == g.config.parameterCount)
        let r = try generate(model, prompt: [1, 2, 3], options: GenerationOptions(maxNewTokens: 8, stopAtEOS: false))
        #expect(r.tokens.count == 8 && r.tokens.allSatisfy { (0..<1000).contains($0) })
        #expect(r.decodeStepSeconds.count == 7)
        // Same seed, same weights; another seed, other weights.
        let again = try ModelLoader.load("random:gpt2?n_layer=3&n_embd=96&n_head=6&n_inner=200&vocab_size=1000&n_positions=64&seed=1")
        let other = try ModelLoader.load("random:gpt2?n_layer=3&n_embd=96&n_head=6&n_inner=200&vocab_size=1000&n_positions=64&seed=2")
        let a = try model.forward([4, 5], cache: model.makeCache(capacity: 2), allLogits: false)
        #expect(a == (try again.forward([4, 5], cache: again.makeCache(capacity: 2), allLogits: false)))
        #expect(a != (try other.forward([4, 5], cache: other.makeCache(capacity: 2), allLogits: false)))
    }

    @Test func randomWeightsFollowTheInitialisation() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=2&n_embd=64&n_head=4&vocab_size=2000&initializer_range=0.05") as! GPT2
        let w = model.wte.dequantized()
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        #expect(abs(mean) < 0.002 && abs(std - 0.05) < 0.002, "mean \(mean), std \(std)")
        let proj = model.blocks[0].projection.dequantized()
        let pstd = (proj.map { $0 * $0 }.reduce(0, +) / Float(proj.count)).squareRoot()
        #expect(abs(pstd - 0.05 / 2) < 0.002, "c_proj std \(pstd)")
        #expect(model.blocks[1].ln1Weight.allSatisfy { $0 == 1 } && model.blocks[1].fcBias.allSatisfy { $0 == 0 })
    }

    /// The fixture rewritten as a sharded checkpoint in the Hub's old layout (`h.N...`, with the
    /// `attn.bias` / `attn.masked_bias` buffers), optionally in F16 / BF16.
    func rewrite(dtype: DType, oldLayout: Bool, shards: Int) throws -> URL {
        let dir = try Fixture.temporaryDirectory()
        try Fixture.copyConfig(to: dir)
        let src = try SafeTensorsFile(path: Fixture.tiny + "/model.safetensors")
        var tensors: [(name: String, tensor: Tensor)] = []
        for name in src.names {
            let t = try src.tensor(name)
            let renamed = oldLayout && name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            tensors.append((renamed, dtype == .f32 ? t : try converted(t, to: dtype)))
        }
        if oldLayout {
            for i in 0..<2 {
                let mask = Tensor((0..<256 * 256).map { Float(($0 % 256) <= ($0 / 256) ? 1 : 0) }, shape: [1, 1, 256, 256])
                tensors.append(("h.\(i).attn.bias", mask))
                tensors.append(("h.\(i).attn.masked_bias", Tensor([-1e4], shape: [])))
            }
        }
        if shards == 1 {
            try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors").path)
            return dir
        }
        var map: [String] = []
        let per = (tensors.count + shards - 1) / shards
        for s in 0..<shards {
            let file = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
            let part = Array(tensors[min(s * per, tensors.count) ..< min((s + 1) * per, tensors.count)])
            try SafeTensorsWriter.write(part, to: dir.appendingPathComponent(file).path)
            map += part.map { "\(ParsedJSON.quote($0.name)): \"\(file)\"" }
        }
        try "{\"metadata\": {}, \"weight_map\": {\(map.joined(separator: ", "))}}"
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        return dir
    }

    @Test func shardedOldLayoutMatches() throws {
        let dir = try rewrite(dtype: .f32, oldLayout: true, shards: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try ModelLoader.modelFiles(dir.path).filter { $0.hasSuffix(".safetensors") }.count == 3)
        let model = try ModelLoader.load(dir.path)
        let ref = try Fixture.reference()
        for (name, prompt) in Fixture.prompts {
            let logits = try model.forward(prompt, cache: model.makeCache(capacity: prompt.count), allLogits: true)
            #expect(Fixture.maxAbsDifference(logits, try ref.tensor("logits.\(name)").toFloatArray()) < 1e-4, "\(name)")
            #expect(try Fixture.greedy(model, prompt) == (try ref.tensor("greedy.\(name)").toInt64Array().map(Int.init)))
        }
    }

    /// Half-precision copies cannot match float32 logits to 1e-4; they must match a float32 model
    /// built from the same rounded values exactly (the widening is exact), and stay close to the oracle.
    @Test(arguments: [DType.f16, .bf16])
    func halfPrecisionCheckpoints(dtype: DType) throws {
        let dir = try rewrite(dtype: dtype, oldLayout: false, shards: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ModelLoader.load(dir.path)
        let widened = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: widened) }
        try Fixture.copyConfig(to: widened)
        let ckpt = try SafeTensorsCheckpoint(dir.path)
        try SafeTensorsWriter.write(try ckpt.names.map { ($0, try ckpt.tensor($0).asF32()) }, to: widened.appendingPathComponent("model.safetensors").path)
        let model32 = try ModelLoader.load(widened.path)
        let ref = try Fixture.reference()
        let prompt = Fixture.prompts[0].1
        let logits = try model.forward(prompt, cache: model.makeCache(capacity: 4), allLogits: true)
        #expect(logits == (try model32.forward(prompt, cache: model32.makeCache(capacity: 4), allLogits: true)))
        let drift = Fixture.maxAbsDifference(logits, try ref.tensor("logits.once").toFloatArray())
        #expect(drift < (dtype == .f16 ? 0.01 : 0.1), "\(dtype) drift \(drift)")
    }

    @Test func randomWeightsOfADirectorysShape() throws {
        let model = try ModelLoader.load("random:" + Fixture.tiny + "?seed=4") as! GPT2
        #expect(model.config.embeddingSize == 64 && model.config.layerCount == 2 && model.config.contextLength == 256)
        #expect(model.tokenizer != nil)
        #expect(try ModelLoader.modelFiles("random:" + Fixture.tiny).isEmpty)
        let files = try ModelLoader.modelFiles(Fixture.tiny).map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(Set(files).isSuperset(of: ["config.json", "vocab.json", "merges.txt", "model.safetensors"]))
        // Same shape as the checkpoint, other values.
        let real = try ModelLoader.load(Fixture.tiny)
        #expect(model.parameterCount == real.parameterCount)
        let a = try model.forward([464], cache: model.makeCache(capacity: 1), allLogits: false)
        #expect(a != (try real.forward([464], cache: real.makeCache(capacity: 1), allLogits: false)))
    }

    @Test func weightsAreListedHonestly() throws {
        let model = try ModelLoader.load(Fixture.tiny)
        let ckpt = try SafeTensorsCheckpoint(Fixture.tiny)
        let fileParameters = try ckpt.names.reduce(0) { $0 + (try ckpt.tensor($1)).count }
        #expect(model.parameterCount == fileParameters)
        #expect(model.storedWeightBytes == 4 * fileParameters)
        #expect(model.weights.contains { $0.name == "transformer.h.1.mlp.c_fc.weight" && $0.shape == [256, 64] })
    }
}
