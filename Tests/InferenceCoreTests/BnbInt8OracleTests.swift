// bnb-int8 against bitsandbytes 0.50.2 on the CPU, beyond the fixture's three prompts (issues 16
// and 18). Oracles by scripts/oracles/bitsandbytes-cpu.py in Oracles/bnb-int8.safetensors (+ .json,
// what the script measured), on two GPT-2 checkpoints of issue 16's shape in Oracles/bnb-int8/
// (72 wide, 6 heads, 3 layers; a 1,024-token vocabulary to stay small): `w72-i008`
// (initializer_range 0.08, no activation reaches 6) and `w72-i02` (0.2: outlier columns are
// decomposed), plus the fixture, each on prompts of 1, 4, 5 and 60 tokens:
//   cuda-t6/t0  transformers + bitsandbytes with its two CUDA int8 kernels transcribed in torch
//               (checked by the script against the fixture's real CUDA oracle: within 1e-6);
//   cpu-t6/t0   transformers + bitsandbytes' own CPU path, whose numerics differ (127 / absmax,
//               no fp16 roundings, the constant 6.200124e-05): the honest, looser bound;
//   the outlier columns bitsandbytes decomposes per layer, and the rows holding exact ties.
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

    /// Every step of the int8 path (fp16 cast, outlier columns, absmax below the threshold, codes
    /// half to even, exact int32 dots, ((acc·SCA)·SCB)·6.200012e-05 rounded to fp16, the F32 bias
    /// added in fp16, outlier products formed in F32 and added last), layer by layer: each int8
    /// layer of w72-i02 fed bitsandbytes' own input (24 rows of the 60-token prompt, outlier
    /// columns decomposed in two layers) gives bitsandbytes' output (CUDA-kernel arithmetic).
    @Test func layersMatchBitsandbytesOnItsOwnActivations() throws {
        let o = try BnbInt8Oracle.file.get()
        let model = try ModelLoader.load(BnbInt8Oracle.models[1].path, quantization: QuantizationConfig(method: "bnb-int8"), threads: 2)
        let biases = (model as! GPT2).blocks.flatMap { [$0.attentionBias, $0.attentionProjectionBias, $0.fcBias, $0.projectionBias] }
        var decomposed = 0
        for (i, layer) in BnbInt8Oracle.int8Layers(model).enumerated() {
            let x = try o.floats("layers.\(i).x"), expected = try o.floats("layers.\(i).y")
            let rows = x.count / layer.inFeatures
            #expect(rows == 24 && expected.count == rows * layer.outFeatures)
            var y = [Float](repeating: 0, count: expected.count)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    layer.forward(xp.baseAddress!, rows: rows, bias: biases[i], into: yp.baseAddress!, pool: model.pool)
                }
                decomposed += BnbInt8Linear.outlierColumns(xp.baseAddress!, rows: rows, inFeatures: layer.inFeatures, threshold: 6).count
            }
            // Identical but for the order in which the outlier products are summed (addmm's).
            let diff = Fixture.maxAbsDifference(y, expected)
            #expect(diff <= 2e-6, "layer \(i): max |Δ| = \(diff)")
        }
        #expect(decomposed == 4)
    }

    /// The whole model against bitsandbytes' own code running its CUDA kernels' arithmetic. Up to
    /// 5 tokens, to the last few bits. At 60 tokens the F32 layers around the int8 ones (LayerNorm,
    /// attention, GELU) differ from torch's in the last bit (≤ 2e-6, as against transformers in
    /// F32), and among the ~30,000 activations cast to fp16 a few then round to the neighbouring
    /// fp16 value; now and then one of those moves an int8 code and the logits by a few hundredths
    /// (measured: 0.016 on the fixture, 0.053 on w72-i02, 0 on w72-i008). The layer test above
    /// shows the int8 layers themselves agree; the bound here is the one that holds in general.
    @Test(arguments: [Float(6), 0])
    func matchesBitsandbytesWithItsCUDAKernels(threshold: Float) throws {
        let o = try BnbInt8Oracle.file.get()
        let tag = threshold > 0 ? "t6" : "t0"
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try ModelLoader.load(path, quantization: QuantizationConfig(method: "bnb-int8", parameters: ["threshold": Double(threshold)]), threads: 2)
            for p in prompts {
                let ids = try BnbInt8Oracle.ids("\(name).\(p)")
                let got = try BnbInt8Oracle.logits(model, ids)
                let diff = Fixture.maxAbsDifference(got, try o.floats("\(name).\(p).cuda-\(tag)"))
                #expect(diff <= (ids.count <= 5 ? 1e-5 : 0.06), "\(name) \(p) \(tag): max |Δlogit| = \(diff)")
            }
        }
    }

    /// 128 single-token prompts on issue 16's shape (logits at ids 0..<64): a flipped code would
    /// show as one prompt apart, a systematic error as all of them.
    @Test func singleTokenSweep() throws {
        let o = try BnbInt8Oracle.file.get()
        let model = try ModelLoader.load(BnbInt8Oracle.models[0].path, quantization: QuantizationConfig(method: "bnb-int8"), threads: 2)
        let ids = try o.tensor("w72-i008.sweep.ids").toInt64Array().map(Int.init)
        let expected = try o.floats("w72-i008.sweep.cuda-t6")
        #expect(ids.count == 128 && expected.count == 128 * 64)
        var worst: Float = 0
        for (k, t) in ids.enumerated() {
            let got = try model.forward([t], cache: model.makeCache(capacity: 1), allLogits: false)
            worst = max(worst, Fixture.maxAbsDifference(Array(got[0..<64]), Array(expected[k * 64..<(k + 1) * 64])))
        }
        #expect(worst <= 1e-5, "max |Δlogit| over 128 prompts = \(worst)")
    }

    /// The columns computed outside int8, layer by layer, are bitsandbytes' (`state.idx`): all of
    /// them against its CUDA-kernel run; against its own CPU path where that path's activations
    /// reach the same columns (on w72-i02's 60-token prompt its different roundings move a
    /// value across 6 in three layers, which the oracle file records).
    @Test func outlierColumnsAreBitsandbytes() throws {
        let o = try BnbInt8Oracle.file.get()
        var decomposed = 0
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try ModelLoader.load(path, quantization: QuantizationConfig(method: "bnb-int8"), threads: 2)
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
                    let cuda = try o.tensor("\(name).\(p).cuda-outliers.\(i)").toInt64Array().map(Int.init)
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
    /// a GPU's approximate reciprocal may round either way), counted by exprun on its own forward
    /// pass and by the oracle script on bitsandbytes'. Prints the table.
    @Test func tieCountsPerLayer() throws {
        let o = try BnbInt8Oracle.file.get()
        var table: [String] = []
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try ModelLoader.load(path, quantization: QuantizationConfig(method: "bnb-int8"), threads: 2)
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
                // On w72-i02's 60-token prompt a code moved in block 1 (see the whole-model test)
                // changes block 2's activations: there the counts compare up to that block.
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
            let model = try ModelLoader.load(path, quantization: QuantizationConfig(method: "bnb-int8", parameters: ["threshold": Double(threshold)]), threads: 2)
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
