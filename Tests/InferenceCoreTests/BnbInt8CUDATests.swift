// bnb-int8 against bitsandbytes 0.50.2 running on a GPU (issue 16). Oracles by
// scripts/oracles/bitsandbytes-cuda.py on an NVIDIA H200, in Oracles/bnb-int8-cuda.safetensors
// (+ .json, what the script measured):
//   scale          the GPU's __fdividef(127, a) for every positive finite fp16 a;
//   grid.differs   every (absmax, x) fp16 pair where bitsandbytes' own code differs from
//                  round_half_even(x · IEEE 127·(1/absmax)): [absmax bits, x bits, its code, IEEE's];
//   <m>.CB.L / .SCB.L   the int8 weights bitsandbytes made on the GPU, per int8 layer;
//   <m>.<p>.cuda-t6 / -t0, <m>.sweep.*, <m>.long.*   logits of transformers + bitsandbytes on
//                  CUDA: BnbInt8OracleTests' prompts, every single-token prompt 0..<1024 (ids
//                  0..<64 kept) and 16 random 60-token prompts, for the fixture and the two
//                  72-wide checkpoints.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct BnbInt8CUDATests {
    static let file = Result { try SafeTensorsFile(path: BnbInt8Oracle.dir.appendingPathComponent("bnb-int8-cuda.safetensors").path) }

    /// Whether an int8 layer's input in this forward pass holds an activation within one F32 ulp
    /// (of its row's largest value) of another int8 code, of another fp16 absmax, or of the
    /// outlier threshold. There, a last-bit difference in the F32 layers before it (LayerNorm,
    /// attention, GELU, which the GPU computes with other code and in another order) can move a
    /// code, and with it the logits by hundredths.
    static func nearAnotherCode(_ model: LanguageModel, _ ids: [Int]) throws -> Bool {
        var near = false
        let layers = BnbInt8Oracle.int8Layers(model)
        for layer in layers {
            let n = layer.inFeatures, t = layer.threshold
            layer.inputObserver = { x, rows in
                for r in 0..<rows {
                    let row = (0..<n).map { x[r * n + $0] }
                    let delta = row.map(abs).max()!.ulp
                    func kept(_ v: Float) -> Bool { t == 0 || abs(Float(Float16(v))) < t }
                    let m = row.filter(kept).map { abs(Float(Float16($0))) }.max() ?? 0
                    guard m > 0 else { continue }
                    let s = BnbInt8Linear.scale(absmax: m)
                    func code(_ v: Float) -> Float { (Float(Float16(v)) * s).rounded(.toNearestOrEven) }
                    for v in row {
                        if kept(v - delta) != kept(v + delta) { near = true }
                        if abs(Float(Float16(v))) == m && Float16(abs(v) - delta) != Float16(abs(v) + delta) { near = true }
                        if kept(v) && code(v - delta) != code(v + delta) { near = true }
                    }
                }
            }
        }
        defer { for layer in layers { layer.inputObserver = nil } }
        _ = try model.forward(ids, cache: model.makeCache(capacity: ids.count), allLogits: false)
        return near
    }

    /// The scale of every fp16 absmax is the GPU's, bit for bit, including the ones where its
    /// approximate reciprocal is not IEEE's. Prints how far those are from IEEE, and for how many
    /// of the 1,024 mantissas.
    @Test func scaleIsTheGPUs() throws {
        let expected = try Self.file.get().floats("scale")
        #expect(expected.count == 0x7BFF)
        var differ = 0, ulps: [Int: Int] = [:], mantissas = Set<UInt32>()
        for (k, s) in expected.enumerated() {
            let a = Float(Float16(bitPattern: UInt16(k + 1)))
            if BnbInt8Linear.scale(absmax: a).bitPattern != s.bitPattern { differ += 1 }
            let off = Int(Int64(s.bitPattern) - Int64((127 * (1 / a)).bitPattern))
            if off != 0 { ulps[off, default: 0] += 1; mantissas.insert(a.bitPattern >> 13 & 0x3FF) }
        }
        print("GPU scale vs IEEE 127·(1/a): \(ulps.values.reduce(0, +)) of \(expected.count) fp16 values apart, by ulps \(ulps.sorted { $0.key < $1.key }), "
              + "\(mantissas.count) of 1,024 mantissas")
        #expect(differ == 0, "\(differ) of \(expected.count) scales are not the GPU's")
        #expect(!ulps.isEmpty, "the oracle would not tell the GPU from IEEE arithmetic")
    }

    /// Every tie bitsandbytes rounds differently from IEEE arithmetic on the GPU, it rounds the
    /// same way here: each pair as a row [absmax, x], through the Swift quantizer and both C ones.
    @Test func tiesRoundAsOnTheGPU() throws {
        let d = try Self.file.get().tensor("grid.differs").toInt64Array().map(Int.init)
        let pairs = d.count / 4
        #expect(pairs > 0)
        func half(_ bits: Int) -> Float { Float(Float16(bitPattern: UInt16(bits))) }
        var x: [Float] = [], gpu: [Int8] = []
        for p in 0..<pairs {
            x += [half(d[4 * p]), half(d[4 * p + 1])]
            gpu.append(Int8(d[4 * p + 2]))
            #expect(d[4 * p + 2] != d[4 * p + 3])
        }
        var swiftDiffer = 0
        for p in 0..<pairs where BnbInt8Linear.quantizeRow([x[2 * p], x[2 * p + 1]], threshold: 0).0[1] != gpu[p] { swiftDiffer += 1 }
        #expect(swiftDiffer == 0, "Swift: \(swiftDiffer) of \(pairs) codes")
        for kernel in KernelVersion.allCases {
            let q = BnbInt8Linear.quantizedActivations(x, rows: pairs, inFeatures: 2, threshold: 0, kernel: kernel)
            let differ = (0..<pairs).filter { q.codes[2 * $0 + 1] != gpu[$0] }.count
            #expect(differ == 0, "\(kernel) C: \(differ) of \(pairs) codes")
        }
    }

    /// Every step of the int8 path (fp16 cast, outlier columns, absmax below the threshold, the
    /// GPU's scale, codes half to even, exact int32 dots, ((acc·SCA)·SCB)·6.200012e-05 rounded to
    /// fp16, the F32 bias added in fp16, outlier products formed in F32 and added last), layer by
    /// layer: each int8 layer of w72-i02 fed the GPU's own input (24 rows of the 60-token prompt,
    /// outlier columns decomposed in two layers) gives the GPU's output.
    @Test func layersMatchTheGPUOnItsOwnActivations() throws {
        let o = try Self.file.get()
        let model = try BnbInt8Oracle.model(BnbInt8Oracle.models[1].path)
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

    /// The int8 weights are the ones bitsandbytes made on the GPU, code for code.
    @Test func weightsAreTheGPUs() throws {
        let o = try Self.file.get()
        for (name, path, _) in BnbInt8Oracle.models {
            let layers = BnbInt8Oracle.int8Layers(try BnbInt8Oracle.model(path))
            for (i, layer) in layers.enumerated() {
                let cb = (0..<layer.outFeatures * layer.inFeatures).map { layer.cb[$0] }
                #expect(cb == (try o.int8s("\(name).CB.\(i)")), "\(name) layer \(i): CB")
                #expect(layer.scb == (try o.floats("\(name).SCB.\(i)")), "\(name) layer \(i): SCB")
            }
        }
    }

    /// Logits against the GPU's on BnbInt8OracleTests' prompts (1 to 60 tokens), thresholds 6 and 0:
    /// to the last few bits (1.4e-6 when this was written) but for w72-i02's 60-token prompt, 0.049.
    @Test(arguments: [Float(6), 0])
    func namedPrompts(threshold: Float) throws {
        let o = try Self.file.get()
        let tag = threshold > 0 ? "t6" : "t0"
        for (name, path, prompts) in BnbInt8Oracle.models {
            let model = try BnbInt8Oracle.model(path, threshold: threshold)
            for p in prompts {
                let ids = try BnbInt8Oracle.ids("\(name).\(p)")
                let diff = Fixture.maxAbsDifference(try BnbInt8Oracle.logits(model, ids), try o.floats("\(name).\(p).cuda-\(tag)"))
                // As in `sweeps`: apart only where a code sits within an ulp (every 60-token prompt has one).
                if diff > 1e-5 {
                    #expect(try Self.nearAnotherCode(model, ids), "\(name) \(p) \(tag): max |Δlogit| = \(diff)")
                    #expect(diff <= 0.06, "\(name) \(p) \(tag): max |Δlogit| = \(diff)")
                }
            }
        }
    }

    /// Every single-token prompt 0..<1024 on each checkpoint, and 16 random 60-token prompts.
    /// Most agree with the GPU to the last few bits. The few that do not (8 of the 3,072 single
    /// tokens when this was written) are all prompts where an activation sits within one F32 ulp
    /// of another int8 code (about 3% of prompts): the F32 layers around the int8 ones differ from
    /// the GPU's in the last bit, which moves such a code and the logits by hundredths. A flipped
    /// tie or any systematic error would show elsewhere.
    @Test func sweeps() throws {
        let o = try Self.file.get()
        let columns = 64
        for (name, path, _) in BnbInt8Oracle.models {
            let model = try BnbInt8Oracle.model(path)
            let ids = try o.tensor("\(name).sweep.ids").toInt64Array().map(Int.init)
            let expected = try o.floats("\(name).sweep.cuda-t6")
            #expect(ids.count == 1024 && expected.count == ids.count * columns)
            var apart: [Int] = [], worst: Float = 0
            for (k, t) in ids.enumerated() {
                let got = try model.forward([t], cache: model.makeCache(capacity: 1), allLogits: false)
                let diff = Fixture.maxAbsDifference(Array(got[0..<columns]), Array(expected[k * columns..<(k + 1) * columns]))
                if diff > 1e-5 { apart.append(t) }
                worst = max(worst, diff)
            }
            let near = try ids.filter { try Self.nearAnotherCode(model, [$0]) }
            let unexplained = apart.filter { !near.contains($0) }
            #expect(unexplained.isEmpty, "\(name): single tokens \(unexplained) differ from the GPU with no code within an ulp")
            #expect(apart.count * 20 <= ids.count, "\(name): \(apart.count) of \(ids.count) single tokens differ from the GPU")

            let long = try o.tensor("\(name).long.ids").toInt64Array().map(Int.init)
            let longExpected = try o.floats("\(name).long.cuda-t6")
            var longApart: [Int] = [], longWorst: Float = 0
            for k in 0..<long.count / 60 {
                let prompt = Array(long[k * 60..<(k + 1) * 60])
                let all = try model.forward(prompt, cache: model.makeCache(capacity: 60), allLogits: true)
                let got = (56..<60).flatMap { t in all[t * model.vocabularySize..<t * model.vocabularySize + columns] }
                let diff = Fixture.maxAbsDifference(got, Array(longExpected[k * 4 * columns..<(k + 1) * 4 * columns]))
                if diff > 1e-5 { longApart.append(k) }
                longWorst = max(longWorst, diff)
            }
            let longNear = try (0..<long.count / 60).filter { try Self.nearAnotherCode(model, Array(long[$0 * 60..<($0 + 1) * 60])) }
            print("bnb-int8 vs CUDA, \(name): \(apart.count) of 1,024 single tokens differ by over 1e-5 (\(apart), all of them among the \(near.count) "
                  + "with a code within an ulp), at most \(worst); \(longApart.count) of 16 60-token prompts (\(longNear.count) with a code within an ulp), at most \(longWorst)")
            #expect(longApart.allSatisfy { longNear.contains($0) })
            #expect(longApart.count * 4 <= 16, "\(name): \(longApart.count) of 16 long prompts differ from the GPU")
        }
    }
}
