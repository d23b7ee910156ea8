// AWQ against the reference's transcription of AutoAWQ on the tiny model
// (../shared/data/gptq-oracle/awq-b4-g32.safetensors): the same best grid ratio for every scaling
// group, the same scales (and nearly the same clipping bounds and codes), the same KL divergence
// from FP32; and
// round-to-nearest on the same grids against the reference's KL.
import Foundation
import Testing
@testable import InferenceCore

@Suite(.serialized) struct AWQTests {
    @Test func awqMatchesTheReference() throws {
        let f = try GPTQOracle.file("awq-b4-g32.safetensors")
        let meta = try GPTQOracle.meta()["awq"] as! [String: Any]
        let ratios = meta["best_ratio"] as! [String: Double]
        let model = try ModelLoader.load(Fixture.tiny, threads: 2) as! GPT2
        var results: [AWQGroupResult] = []
        var bounds: [String: [Float]] = [:]
        _ = try AWQ.quantize(model, samples: try GPTQModelTests.calibrationIDs(), groupSize: 32, duoScaling: true,
                             observe: { results.append($0) }, clipped: { bounds[$0] = $1 })
        #expect(results.count == ratios.count)
        for r in results {
            #expect(r.ratio == ratios[r.name], "\(r.name): ratio \(r.ratio), reference \(ratios[r.name] ?? -1)")
            let refScales = try GPTQOracle.floats(f, r.name + ".scales")
            let worst = zip(r.scales, refScales).map { abs($0 - $1) / abs($1) }.max()!
            #expect(worst < 1e-5, "\(r.name): scales differ by \(worst) relative")
            let history = try f.tensor(r.name + ".loss_history").toFloatArray().map(Double.init)
            let lossWorst = zip(r.losses, history).map { abs($0 - $1) / $1 }.max()!
            #expect(lossWorst < 5e-3, "\(r.name): losses differ by \(lossWorst) relative")
        }
        for l in 0..<model.blockCount {
            for name in model.sequentialGroups(block: l).joined() {
                let w = model.linear(name) as! GroupQuantizedLinear
                let out = w.outFeatures, n = w.inFeatures
                if f.contains(name + ".clip_max") {
                    // The clipping bounds: the same for at least 95% of (row, group) pairs. The rest
                    // (1-4% per layer, none in block 0's attn.c_proj) differ by one or more grid steps
                    // where exprun's own errors clearly favour its choice; the cause is not known.
                    let ref = try GPTQOracle.floats(f, name + ".clip_max")
                    let same = zip(bounds[name]!, ref).filter { abs($0 - $1) <= 1e-5 * abs($1) }.count
                    #expect(Double(same) >= 0.95 * Double(ref.count), "\(name): \(same) of \(ref.count) clipping bounds the same")
                }
                let codes = try GPTQOracle.ints(f, name + ".codes")
                let same = GPTQModelTests.identicalRows(w.code, codes, out: out, n: n)
                #expect(Double(same) >= 0.9 * Double(out), "\(name): \(same) of \(out) rows identical")
            }
        }
        let kl = try GPTQModelTests.meanKL(model)
        let ref = (meta["kl_top1_awq"] as! [Double])[0], rtn = (meta["kl_top1_rtn_asym_g32"] as! [Double])[0]
        #expect(abs(kl - ref) <= 0.05 * ref, "AWQ KL \(kl), reference \(ref)")
        #expect(kl < rtn, "AWQ KL \(kl) not below round-to-nearest's \(rtn)")
    }

    /// Round-to-nearest needs no calibration: the same grid gives the reference's KL.
    @Test(arguments: [("m1_b4_g32_sym", 1.0), ("m3_b4_gall_sym", 1.0), ("m2_b4_g32_asym_act", 0.0)])
    func roundToNearestMatchesTheReferenceKL(configuration: String, sym: Double) throws {
        let meta = (try GPTQOracle.meta()["gptq"] as! [String: Any])[configuration] as! [String: Any]
        let config = QuantizationConfig(method: "rtn", parameters: ["bits": Double(meta["bits"] as! Int), "group_size": Double(meta["group_size"] as! Int), "sym": sym])
        let model = try ModelLoader.load(Fixture.tiny, quantization: config)
        let kl = try GPTQModelTests.meanKL(model)
        let ref = meta["kl_rtn"] as! Double
        #expect(abs(kl - ref) <= 0.05 * ref, "\(configuration): RTN KL \(kl), reference \(ref)")
    }
}
