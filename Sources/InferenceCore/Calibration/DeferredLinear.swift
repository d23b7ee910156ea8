// FP32 block weights read from their source (a checkpoint's mapped bytes, the random generator, a
// GGUF's blocks dequantized) only when calibration reaches them. The calibration pass takes a model's blocks one at a time,
// and each block's linear layers end up in their packed format: while block 0 is calibrated, the
// FP32 values of blocks 1…n−1 need not be resident yet (GPT-2 124M: 297 of its 475 MiB, next to
// 384 MiB of block activations). GPTQ reads a layer's values once (`dequantized()`, row by row,
// served a chunk of about 1 MiB at a time, so no whole F32 copy is kept) and replaces the layer;
// anything that multiplies by the unquantized weight (AWQ, a layer calibration skips, GPTQ
// without true-sequential) loads it whole on first use, as F32Linear would have held it.
import Foundation

final class DeferredLinear: LinearWeight, @unchecked Sendable {
    let rows: WeightRows
    private let lock = NSLock()
    private var loaded: F32Linear?
    /// The chunk of rows `dequantizeRow` read last, while the weight is not loaded whole.
    private var chunk: (rows: Range<Int>, values: [Float])?

    init(_ rows: WeightRows) { self.rows = rows }

    var outFeatures: Int { rows.out }
    var inFeatures: Int { rows.inFeatures }
    var format: String { "fp32" }
    var storedBytes: Int { outFeatures * inFeatures * 4 }

    /// The whole weight, read on first use and kept.
    var whole: F32Linear {
        lock.lock(); defer { lock.unlock() }
        if let loaded { return loaded }
        let w = F32Linear(rows: rows)
        loaded = w
        chunk = nil
        return w
    }

    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        whole.forward(x, rows: rows, into: y, pool: pool)
    }

    func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        lock.lock(); defer { lock.unlock() }
        if let loaded { loaded.dequantizeRow(row, into: dst); return }
        if chunk?.rows.contains(row) != true {
            let r = rows.chunks().first { $0.contains(row) }!
            let values = [Float](unsafeUninitializedCapacity: r.count * inFeatures) { buffer, count in
                rows.read(r, into: buffer.baseAddress!)
                count = r.count * inFeatures
            }
            chunk = (r, values)
        }
        let (r, values) = chunk!
        values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress! + (row - r.lowerBound) * inFeatures, count: inFeatures) }
    }
}
