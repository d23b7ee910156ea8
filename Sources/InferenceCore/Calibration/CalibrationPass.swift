// The calibration pass: the model run block by block over the calibration samples, so that each
// linear layer's inputs can be seen without holding every layer's activations at once.
//
// Only the samples' state inside the current block is held (the block's input, and where a later
// group needs it, one intermediate per sample: GPT-2's attention output); a group's inputs are
// made one sample at a time and folded into its Hessian as they come. GPTQ, as the reference
// drives it (`opt.py` / `llama.py`):
//
//   x = embeddings of every sample
//   for each block:
//       true-sequential: for each group of layers (GPT-2: c_attn | attn.c_proj | mlp.c_fc | mlp.c_proj;
//           Llama: q,k,v | o | gate,up | down): its inputs from the block with the earlier groups
//           already quantized → one Hessian for the group → GPTQ each layer of it
//       otherwise: every group's inputs from the unquantized block, then all layers quantized
//       x = the block's output with its layers quantized (the next block's input)
//
// While a block is calibrated its layers compute with the quantized values in F32 (as the
// reference writes them back into the module); once the block is done they are replaced by the
// stored format (Quant/GroupQuantized.swift).
import Foundation

/// A model as the calibration pass runs it. Architectures implement it beside their forward pass
/// (Calibration/GPT2Calibration.swift, LlamaCalibration.swift), with the same operations.
protocol CalibratedModel: AnyObject {
    var blockCount: Int { get }
    var pool: ThreadPool { get }
    /// Block 0's input for one sample: `tokens.count × width`, row-major.
    func embed(_ tokens: [Int]) -> [Float]
    /// Block `l`'s linear layers (checkpoint names) in the groups true-sequential quantization takes in turn.
    func sequentialGroups(block l: Int) -> [[String]]
    /// A linear layer's weight as it now computes.
    func linear(_ name: String) -> LinearWeight
    /// Replaces a linear layer's weight (F32 values while calibrating, then the stored format).
    func setWeight(_ name: String, _ w: LinearWeight)
    /// The input of group `k` of block `l` for one sample (`tokens × in`), from the sample's state
    /// before group k's layers were applied.
    func groupInput(block l: Int, group k: Int, state: [[Float]], tokens: Int) -> [Float]
    /// The sample's state after group `k`; after the last group, `[the block's output]`.
    func advance(block l: Int, group k: Int, state: [[Float]], tokens: Int) -> [[Float]]
}

/// What calibration did to one layer, for reports.
public struct CalibratedLayer: Sendable, Codable, Equatable {
    public var name: String
    public var out: Int
    public var inFeatures: Int
    /// GPTQ: the damping fraction that made H positive definite.
    public var dampPercent: Double?
    /// GPTQ's error Σ (w − q)²/U[i][i]²/2 (the reference's printed `error`).
    public var loss: Double?
    public var seconds: Double
}

public struct CalibrationReport: Sendable, Codable, Equatable {
    public var method: String
    public var samples: Int
    public var tokens: Int
    public var layers: [CalibratedLayer]
    public var seconds: Double
    /// The token windows calibrated on (for their checksum; not encoded).
    public var tokenIDs: [[Int]] = []
    /// Where they came from.
    public var calibration: CalibrationConfig? = nil

    enum CodingKeys: String, CodingKey { case method, samples, tokens, layers, seconds, calibration }

    /// The windows as int32 little-endian bytes, row by row (what `calibration.ids` files hold).
    public var tokenBytes: [UInt8] {
        tokenIDs.flatMap { $0 }.flatMap { v in withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { Array($0) } }
    }
}

enum CalibrationPass {
    /// Quantizes every linear layer of `model`'s blocks with GPTQ on `samples`, in place.
    /// `hessians`, when given, receives each group's Hessian (tests compare them with the reference's).
    static func gptq(_ model: CalibratedModel, samples: [[Int]], config: GPTQConfiguration, trueSequential: Bool,
                     skip: (String) -> Bool = { _ in false },
                     hessians: ((String, [Float]) -> Void)? = nil) throws -> CalibrationReport {
        let start = Date()
        var states = samples.map { [model.embed($0)] }
        var layers: [CalibratedLayer] = []
        for l in 0..<model.blockCount {
            let groups = model.sequentialGroups(block: l)
            var stored: [(String, LinearWeight)] = []
            func quantize(_ group: [String], _ h: HessianAccumulator) throws {
                let hessian = h.hessian()
                for name in group where !skip(name) {
                    hessians?(name, hessian)
                    let t0 = Date()
                    let current = model.linear(name), out = current.outFeatures, n = current.inFeatures
                    let r = try GPTQ.quantize(weight: current.dequantized(), out: out, in: n, hessian: hessian, config: config, layer: name, pool: model.pool)
                    model.setWeight(name, F32Linear(values: r.weight.dequantized(), out: out, in: n))
                    stored.append((name, try GroupQuantizedLinear(r.weight, format: "gptq")))
                    layers.append(CalibratedLayer(name: name, out: out, inFeatures: n, dampPercent: r.dampPercent,
                                                  loss: r.loss, seconds: Date().timeIntervalSince(t0)))
                }
            }
            func accumulator(_ k: Int) -> HessianAccumulator {
                HessianAccumulator(columns: model.linear(groups[k][0]).inFeatures)
            }
            if trueSequential {
                for k in groups.indices {
                    let h = accumulator(k)
                    for (s, state) in states.enumerated() {
                        let x = model.groupInput(block: l, group: k, state: state, tokens: samples[s].count)
                        x.withUnsafeBufferPointer { h.add($0.baseAddress!, rows: samples[s].count, pool: model.pool) }
                    }
                    try quantize(groups[k], h)
                    for s in states.indices { states[s] = model.advance(block: l, group: k, state: states[s], tokens: samples[s].count) }
                }
            } else {
                let hs = groups.indices.map(accumulator)
                for (s, state) in states.enumerated() {
                    var st = state
                    for k in groups.indices {
                        let x = model.groupInput(block: l, group: k, state: st, tokens: samples[s].count)
                        x.withUnsafeBufferPointer { hs[k].add($0.baseAddress!, rows: samples[s].count, pool: model.pool) }
                        st = model.advance(block: l, group: k, state: st, tokens: samples[s].count)
                    }
                }
                for k in groups.indices { try quantize(groups[k], hs[k]) }
                for s in states.indices {
                    for k in groups.indices { states[s] = model.advance(block: l, group: k, state: states[s], tokens: samples[s].count) }
                }
            }
            for (name, w) in stored { model.setWeight(name, w) }
        }
        return CalibrationReport(method: "gptq", samples: samples.count, tokens: samples.first?.count ?? 0, layers: layers,
                                 seconds: Date().timeIntervalSince(start))
    }
}
