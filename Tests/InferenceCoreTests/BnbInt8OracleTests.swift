// bnb-int8 against bitsandbytes 0.50.2 on the CPU, beyond the fixture's three prompts (issues 16
// and 18). Oracles by scripts/oracles/bitsandbytes-cpu.py in Oracles/bnb-int8.safetensors (+ .json,
// what the script measured), on two GPT-2 checkpoints of issue 16's shape in Oracles/bnb-int8/
// (72 wide, 6 heads, 3 layers; a 1,024-token vocabulary to stay small): `w72-i008`
// (initializer_range 0.08, no activation reaches 6) and `w72-i02` (0.2: outlier columns are
// decomposed), plus the fixture, each on prompts of 1, 4, 5 and 60 tokens:
//   fp32        transformers in float32;
//   cpu-t6/t0   transformers + bitsandbytes' own CPU path, whose numerics differ (127 / absmax,
//               no fp16 roundings, the constant 6.200124e-05): the honest, looser bound;
//   cpu-outliers  the outlier columns that path decomposes per layer.
// The file's cuda-* keys, a transcription of the CUDA kernels with an IEEE reciprocal, are
// superseded by bitsandbytes run on a real GPU (BnbInt8CUDATests), which these tests use for the
// CUDA path's outlier columns and tie counts.
// Logits are kept at the last ≤ 4 positions, vocabulary ids 0..<1024.
import Foundation
import Testing
@testable import InferenceCore

enum BnbInt8Oracle {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles")
    static let file = Result { try SafeTensorsFile(path: dir.appendingPathComponent("bnb-int8.safetensors").path) }
    static let models: [(name: String, path: String, prompts: [String])] = [
        ("w72-i008", dir.appendingPathComponent("bnb-int8/w72-i008").path, ["p1", "p4", "p5", "p60"]),
        ("w72-i02", dir.appendingPathComponent("bnb-int8/w72-i02").path, ["p1", "p4", "p5", "p60"]),
        ("tiny", Fixture.tiny, ["once", "hello", "single", "p60"]),
    ]
    static let columns = 1024

    /// Logits of `ids` as the oracle keeps them: the last ≤ 4 positions, ids 0..<1024.
    static func logits(_ model: LanguageModel, _ ids: [Int]) throws -> [Float] {
        let all = try model.forward(ids, cache: model.makeCache(capacity: ids.count), allLogits: true)
        let v = model.vocabularySize
        return (max(0, ids.count - 4)..<ids.count).flatMap { t in all[t * v..<t * v + columns] }
    }

    /// A checkpoint in bnb-int8 with outlier columns from `threshold` on (0: none).
    static func model(_ path: String, threshold: Float = 6) throws -> LanguageModel {
        try ModelLoader.load(path, quantization: QuantizationConfig(method: "bnb-int8", parameters: ["threshold": Double(threshold)]), threads: 2)
    }

    static func ids(_ key: String) throws -> [Int] {
        try file.get().tensor(key + ".ids").toInt64Array().map(Int.init)
    }

    /// The int8 layers of a GPT-2 in bitsandbytes' module order (per block: c_attn, attn.c_proj,
    /// mlp.c_fc, mlp.c_proj).
    static func int8Layers(_ model: LanguageModel) -> [BnbInt8Linear] {
        (model as! GPT2).blocks.flatMap { [$0.attention, $0.attentionProjection, $0.fc, $0.projection] }
            .map { $0 as! BnbInt8Linear }
    }
}

@Suite struct BnbInt8OracleTests {
    /// The checkpoints load as transformers reads them (F16 files, float32 model).
    @Test func fp32MatchesTransformers() throws {
        let o = try BnbInt8Oracle.file.get()
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try ModelLoader.load(path, threads: 2)
            for p in prompts {
                let got = try BnbInt8Oracle.logits(model, try BnbInt8Oracle.ids("\(name).\(p)"))
                let diff = Fixture.maxAbsDifference(got, try o.floats("\(name).\(p).fp32"))
                #expect(diff <= 1e-4, "\(name) \(p): fp32 max |Δlogit| = \(diff)")
            }
        }
    }

    /// The columns computed outside int8, layer by layer, are bitsandbytes' (`state.idx`): all of
    /// them against its run on a GPU (BnbInt8CUDATests' oracle); against its own CPU path where
    /// that path's activations reach the same columns (on w72-i02's 60-token prompt its different
    /// roundings move a value across 6 in three layers, which the oracle file records).
    @Test func outlierColumnsAreBitsandbytes() throws {
        let o = try BnbInt8Oracle.file.get(), gpu = try BnbInt8CUDATests.file.get()
        var decomposed = 0
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try BnbInt8Oracle.model(path)
            let layers = BnbInt8Oracle.int8Layers(model)
            for p in prompts {
                var seen: [[Int]] = []
                for layer in layers {
                    layer.inputObserver = { x, rows in
                        seen.append(BnbInt8Linear.outlierColumns(x, rows: rows, inFeatures: layer.inFeatures, threshold: layer.threshold))
                    }
                }
                _ = try model.forward(try BnbInt8Oracle.ids("\(name).\(p)"), cache: model.makeCache(capacity: 64), allLogits: false)
                for layer in layers { layer.inputObserver = nil }
                #expect(seen.count == layers.count)
                for (i, cols) in seen.enumerated() {
                    let cuda = try gpu.tensor("\(name).\(p).cuda-outliers.\(i)").toInt64Array().map(Int.init)
                    #expect(cols == cuda, "\(name) \(p) layer \(i)")
                    if !(name == "w72-i02" && p == "p60") {
                        #expect(cols == (try o.tensor("\(name).\(p).cpu-outliers.\(i)").toInt64Array().map(Int.init)), "\(name) \(p) layer \(i) (CPU path)")
                    }
                    decomposed += cols.count
                }
            }
        }
        #expect(decomposed >= 10)   // w72-i02 does reach the threshold
    }

    /// Issue 16's measurement: per int8 layer, the rows whose fp16 activations hold an element at
    /// exactly half their absmax, and those holding any exact tie (127·x/absmax = k + 1/2, which
    /// a GPU's approximate reciprocal rounds either way), counted by exprun on its own forward
    /// pass and by scripts/oracles/bitsandbytes-cuda.py on bitsandbytes' on a GPU. Prints the table.
    @Test func tieCountsPerLayer() throws {
        let o = try BnbInt8CUDATests.file.get()
        var table: [String] = []
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try BnbInt8Oracle.model(path)
            let layers = BnbInt8Oracle.int8Layers(model)
            for p in prompts {
                var half: [Int] = [], ties: [Int] = []
                for layer in layers {
                    layer.inputObserver = { x, rows in
                        let c = BnbInt8Linear.exactTieRows(x, rows: rows, inFeatures: layer.inFeatures, threshold: layer.threshold)
                        half.append(c.halfMax); ties.append(c.ties)
                    }
                }
                let ids = try BnbInt8Oracle.ids("\(name).\(p)")
                _ = try model.forward(ids, cache: model.makeCache(capacity: 64), allLogits: false)
                for layer in layers { layer.inputObserver = nil }
                // On w72-i02's 60-token prompt a code within an ulp of the next moves in block 1
                // (BnbInt8CUDATests.namedPrompts) and changes block 2's activations: there the
                // counts compare up to that block (they differ after it).
                let n = name == "w72-i02" && p == "p60" ? 8 : layers.count
                #expect(half.prefix(n) == (try o.tensor("\(name).\(p).half-max-rows").toInt64Array().map(Int.init)).prefix(n), "\(name) \(p)")
                #expect(ties.prefix(n) == (try o.tensor("\(name).\(p).tie-rows").toInt64Array().map(Int.init)).prefix(n), "\(name) \(p)")
                table.append("\(name) \(p) (\(ids.count) tokens): rows at half absmax per layer \(half), rows with an exact tie \(ties)")
            }
        }
        print("bnb-int8 ties per int8 layer:\n" + table.joined(separator: "\n"))
    }

    /// The honest bound against bitsandbytes' own CPU path, prompts of 1 to 60 tokens. Its
    /// numerics are not its CUDA kernels' (see the file header), and the script measured the two
    /// bitsandbytes paths apart by up to 0.046 on the fixture and w72-i008 and 0.13 on w72-i02,
    /// whose int8 error against fp32 reaches 0.39; exprun follows the CUDA path, so it is held to
    /// those distances, not to 1e-4.
    @Test(arguments: [Float(6), 0])
    func withinBitsandbytesCPUPathsDistance(threshold: Float) throws {
        let o = try BnbInt8Oracle.file.get()
        let tag = threshold > 0 ? "t6" : "t0"
        for (name, path, prompts) in BnbInt8Oracle.models {
            let bound: Float = name == "w72-i02" ? 0.15 : 0.05
            let model = try BnbInt8Oracle.model(path, threshold: threshold)
            for p in prompts {
                let got = try BnbInt8Oracle.logits(model, try BnbInt8Oracle.ids("\(name).\(p)"))
                let diff = Fixture.maxAbsDifference(got, try o.floats("\(name).\(p).cpu-\(tag)"))
                #expect(diff <= bound, "\(name) \(p) \(tag): max |Δlogit| against bitsandbytes' CPU path = \(diff)")
                // ... and further from fp32 than from bitsandbytes: the test sees int8 at all.
                let gap = Fixture.maxAbsDifference(got, try o.floats("\(name).\(p).fp32"))
                #expect(gap > 0.03, "\(name) \(p): int8 moved logits by only \(gap)")
            }
        }
    }
}
