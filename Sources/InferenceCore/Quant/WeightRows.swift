// What a format quantizes from: the F32 rows of a weight `[out, in]`, read a range at a time.
// Formats walk a weight in chunks of about 1 MiB of F32 so that loading never holds an F32 copy of
// a whole tensor (GPT-2's embedding is 147 MiB in F32, Gemma 3's 640 MiB) beside the quantized
// result: peak memory stays close to what the model keeps. Sources read from a memory-mapped file
// give the file's pages back as they go (`Storage.dropPages`), for the same reason.
import Foundation

public struct WeightRows {
    public let out: Int
    public let inFeatures: Int
    /// Rows that chunks start at multiples of, where the source produces its values in units that
    /// a chunk boundary would otherwise cut (and the unit be made twice).
    let sourceRows: Int
    private let read: (_ rows: Range<Int>, _ into: UnsafeMutablePointer<Float>) -> Void

    /// `read(rows, dst)` writes rows `rows` (`rows.count × in` floats, row-major) to `dst`.
    public init(out: Int, in inFeatures: Int, alignedTo sourceRows: Int = 1,
                read: @escaping (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        self.out = out; self.inFeatures = inFeatures; self.sourceRows = max(1, sourceRows); self.read = read
    }

    /// Rows of an array already in memory.
    public init(_ values: [Float], out: Int, in inFeatures: Int) {
        precondition(values.count == out * inFeatures)
        self.init(out: out, in: inFeatures) { rows, dst in
            values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress! + rows.lowerBound * inFeatures, count: rows.count * inFeatures) }
        }
    }

    /// The dequantized rows of a stored weight (re-quantizing a GGUF's tensors); `done(rows)` runs
    /// after each read (to give back the file pages those rows came from).
    public init(dequantizing w: LinearWeight, done: @escaping (Range<Int>) -> Void = { _ in }) {
        self.init(out: w.outFeatures, in: w.inFeatures) { rows, dst in
            for (k, r) in rows.enumerated() { w.dequantizeRow(r, into: dst + k * w.inFeatures) }
            done(rows)
        }
    }

    /// Rows of a float tensor, `[out, in]` or, `transposed`, stored `[in, out]` (GPT-2's Conv1D); a
    /// vector is one row.
    /// Pages of a mapped file are given back as rows are read: a plain tensor's chunk by chunk, a
    /// transposed one's (every chunk reads across all of it) whole after every chunk.
    public init(tensor t: Tensor, transposed: Bool) {
        precondition((t.shape.count == 2 || t.shape.count == 1 && !transposed) && t.dtype.isFloat)
        let (out, n) = t.shape.count == 1 ? (1, t.shape[0]) : transposed ? (t.shape[1], t.shape[0]) : (t.shape[0], t.shape[1])
        let size = t.dtype.byteSize
        self.init(out: out, in: n) { rows, dst in
            if !transposed {
                t.readFloats(rows.lowerBound * n ..< rows.upperBound * n, into: dst)
                t.storage.dropPages(byteOffset: t.byteOffset + rows.lowerBound * n * size, count: rows.count * n * size)
                return
            }
            // The stored rows' segments for these outputs, [n, count], then transposed in tiles
            // that stay in cache.
            let count = rows.count
            let slab = UnsafeMutablePointer<Float>.allocate(capacity: n * count)
            defer { slab.deallocate() }
            for i in 0..<n { t.readFloats(i * out + rows.lowerBound ..< i * out + rows.upperBound, into: slab + i * count) }
            // Wrapping index arithmetic: every index is below n × count, which was allocated; the
            // checked products cost 3x in this loop (callgrind).
            let tile = 32
            for i0 in stride(from: 0, to: n, by: tile) {
                for k0 in stride(from: 0, to: count, by: tile) {
                    for i in i0..<min(i0 &+ tile, n) {
                        for k in k0..<min(k0 &+ tile, count) { dst[k &* n &+ i] = slab[i &* count &+ k] }
                    }
                }
            }
            // Each chunk reads a little of every page of the tensor: give them all back, or the
            // whole tensor's pages would sit beside the model until its last chunk.
            t.storage.dropPages(byteOffset: t.byteOffset, count: t.byteCount)
        }
    }

    public func read(_ rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) { read(rows, dst) }

    /// Consecutive row ranges covering the weight, each about `bytes` of F32 and a multiple of
    /// `rowMultiple` rows and of the source's own unit (but the last).
    public func chunks(rowMultiple: Int = 1, bytes: Int = 1 << 20) -> [Range<Int>] {
        let multiple = rowMultiple / Bnb4BitLinear.gcd(rowMultiple, sourceRows) * sourceRows
        let per = max(1, bytes / max(1, 4 * inFeatures) / multiple) * multiple
        return stride(from: 0, to: out, by: per).map { $0..<min(out, $0 + per) }
    }

    /// Calls `body` with each chunk's rows and their F32 values (one reused buffer).
    public func forEachChunk(rowMultiple: Int = 1, _ body: (Range<Int>, UnsafePointer<Float>) throws -> Void) rethrows {
        let ranges = chunks(rowMultiple: rowMultiple)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: (ranges.first?.count ?? 0) * inFeatures)
        defer { buffer.deallocate() }
        for r in ranges {
            read(r, buffer)
            try body(r, buffer)
        }
    }

    /// All values at once: for vectors and small tensors only.
    public func all() -> [Float] {
        [Float](unsafeUninitializedCapacity: out * inFeatures) { buf, count in
            if out > 0 { read(0..<out, buf.baseAddress!) }
            count = out * inFeatures
        }
    }
}
