// The one interface between models and quantization formats: a linear layer's weight matrix,
// stored row-per-output-feature (`[out, in]`, as PyTorch's nn.Linear and llama.cpp store it), in
// whatever format, that can multiply activations. Models never see the bytes; formats never see
// the model. An embedding table is a LinearWeight too (`[vocab, d]`): lookups read one row, and a
// tied output head multiplies by the same object.
import Foundation

public protocol LinearWeight: AnyObject, Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    /// Name of the storage format as in experiment files: "fp32", "q4_0", "bnb-nf4", ...
    var format: String { get }
    /// Bytes the weight occupies as stored (blocks, scales, code books: everything).
    var storedBytes: Int { get }
    /// Why the stored format differs from the one asked for (a row length the block does not
    /// divide), for reports; nil when it does not.
    var note: String? { get }
    /// `y[r, o] = Σ_i x[r, i] · W[o, i]` for `rows` activation rows (no bias).
    /// `x` is `rows × inFeatures`, `y` is `rows × outFeatures`, both row-major.
    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool)
    /// The same plus `bias[o]` (when given). A format whose reference rounds the biased sum as one (bitsandbytes'
    /// int8 adds the bias to its fp16 output, in fp16) implements this; the others get the F32 add.
    func forward(_ x: UnsafePointer<Float>, rows: Int, bias: [Float]?, into y: UnsafeMutablePointer<Float>, pool: ThreadPool)
    /// Row `row` (one output feature, `inFeatures` values) dequantized into `dst`.
    func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>)
}

extension LinearWeight {
    public var note: String? { nil }
    public var parameterCount: Int { outFeatures * inFeatures }
    public var bitsPerWeight: Double { Double(storedBytes * 8) / Double(parameterCount) }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, bias: [Float]?, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        forward(x, rows: rows, into: y, pool: pool)
        guard let bias else { return }
        let n = outFeatures
        precondition(bias.count == n)
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows { let yr = y + r * n; for i in 0..<n { yr[i] += b[i] } }
        }
    }

    /// The whole weight as F32 `[out, in]` (tests, export, re-quantization; never per token).
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: outFeatures * inFeatures)
        out.withUnsafeMutableBufferPointer { p in
            for r in 0..<outFeatures { dequantizeRow(r, into: p.baseAddress! + r * inFeatures) }
        }
        return out
    }
}
