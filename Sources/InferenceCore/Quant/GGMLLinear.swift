// A linear weight stored in one of llama.cpp's tensor types: rows of ggml blocks, exactly the bytes
// a GGUF file holds, whether quantized here or memory-mapped from a file. It multiplies by
// quantizing the activations to 8-bit blocks once per call and running integer dot products over
// the stored blocks (Kernels/GGMLDot.swift), split over output rows on the pool. Prefill reuses
// each weight row, while it is in L1, for every activation row.
import Foundation

public final class GGMLLinear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    /// The type the rows are stored in.
    public let type: GGMLFormat
    /// The type that was asked for, when a row length forced another (see `note`).
    public let requested: GGMLFormat
    /// Why the stored type differs from the requested one (nil when it does not).
    public let note: String?
    public let storage: Storage
    public let byteOffset: Int
    public let rowBytes: Int
    /// Rows in groups of 8 interleaved block by block (Quant/Interleaved.swift): q4_0, q5_0, q8_0,
    /// q4_K and q6_K, quantized here or repacked from a file (`fromFile`).
    public let interleaved: Bool

    public var format: String { type.name }
    public var storedBytes: Int { rowBytes * outFeatures }
    public var blocks: UnsafeRawPointer { UnsafeRawPointer(storage.base + byteOffset) }

    /// Wraps stored rows (e.g. a memory-mapped GGUF tensor). Errors when the bytes cannot hold them.
    public init(type: GGMLFormat, out: Int, in n: Int, storage: Storage, byteOffset: Int = 0,
                requested: GGMLFormat? = nil, note: String? = nil, interleaved: Bool = false) throws {
        guard type != .q8_k else { throw CoreError.unsupported("q8_K is an activation type, not a weight type") }
        guard out > 0, n > 0, n % type.blockSize == 0 else {
            throw CoreError.invalid("a \(type.ggmlName) weight needs rows that are a multiple of \(type.blockSize) values (got [\(out), \(n)])")
        }
        let rb = type.rowBytes(n)
        let (total, overflow) = rb.multipliedReportingOverflow(by: out)
        guard !overflow, byteOffset >= 0, byteOffset <= storage.byteCount, total <= storage.byteCount - byteOffset else {
            throw CoreError.invalid("\(type.ggmlName) weight [\(out), \(n)] needs \(rb) × \(out) bytes; only \(storage.byteCount - byteOffset) are there")
        }
        self.type = type; self.requested = requested ?? type; self.note = note
        outFeatures = out; inFeatures = n; rowBytes = rb
        self.storage = storage; self.byteOffset = byteOffset
        precondition(!interleaved || Interleaved.applies(to: type, out: out))
        self.interleaved = interleaved
    }

    /// A GGUF tensor as the file stores it. Rows of a type with interleaved kernels are repacked
    /// into owned (anonymous) memory, 8 rows per group, a few groups at a time, and the file's pages
    /// given back as they are read: prefill then runs the 8-row kernels (llama.cpp's CPU backend
    /// repacks the same way), at the price of memory that is no longer file-backed (the kernel cannot
    /// drop and re-read it under pressure, and processes mapping the same file no longer share it).
    /// `repack: false` (or another type) keeps the mapping.
    public static func fromFile(type: GGMLFormat, out: Int, in n: Int, storage file: Storage, byteOffset: Int,
                                repack: Bool) throws -> GGMLLinear {
        let mapped = try GGMLLinear(type: type, out: out, in: n, storage: file, byteOffset: byteOffset)
        guard repack, Interleaved.applies(to: type, out: out) else { return mapped }
        let rb = mapped.rowBytes, copy = Storage(byteCount: rb * out)
        let groupBytes = Interleaved.rows * rb, groups = out / Interleaved.rows
        let chunk = max(1, (1 << 20) / groupBytes)
        for g0 in stride(from: 0, to: groups, by: chunk) {
            let g1 = min(groups, g0 + chunk), offset = g0 * groupBytes, count = (g1 - g0) * groupBytes
            copy.base.advanced(by: offset).copyMemory(from: file.base + byteOffset + offset, byteCount: count)
            file.dropPages(byteOffset: byteOffset + offset, count: count)
            DispatchQueue.concurrentPerform(iterations: g1 - g0) { i in
                Interleaved.interleave(copy.base + (g0 + i) * groupBytes, type: type, rowBytes: rb)
            }
        }
        let tail = groups * groupBytes
        copy.base.advanced(by: tail).copyMemory(from: file.base + byteOffset + tail, byteCount: rb * out - tail)
        return try GGMLLinear(type: type, out: out, in: n, storage: copy, interleaved: true)
    }

    /// Quantizes an F32 `[out, in]` matrix to `format`, falling back as llama.cpp does when the
    /// row length is no multiple of its block. Rejects non-finite values (they have no quantization).
    public static func quantize(_ values: [Float], out: Int, in n: Int, as format: GGMLFormat) throws -> GGMLLinear {
        guard values.count == out * n else { throw CoreError.invalid("weight has \(values.count) values, not \(out) × \(n)") }
        return try quantize(WeightRows(values, out: out, in: n), as: format)
    }

    public static func quantize(_ rows: WeightRows, as format: GGMLFormat) throws -> GGMLLinear {
        let out = rows.out, n = rows.inFeatures
        let (stored, note) = format.fitting(rowLength: n)
        let rb = stored.rowBytes(n)
        let storage = Storage(byteCount: rb * out)
        let interleave = Interleaved.applies(to: stored, out: out)
        try rows.forEachChunk(rowMultiple: Interleaved.rows) { range, src in
            if let bad = firstNonFinite(src, count: range.count * n) {
                throw CoreError.invalid("weight value at row \(range.lowerBound + bad / max(n, 1)), column \(bad % max(n, 1)) is \(src[bad]): cannot quantize non-finite values")
            }
            // Rows are independent: quantize them in parallel (a 50k-row embedding in Q4_K takes seconds).
            let parts = min(range.count, 4 * ProcessInfo.processInfo.activeProcessorCount), dst = storage.base
            DispatchQueue.concurrentPerform(iterations: parts) { c in
                for k in (range.count * c / parts)..<(range.count * (c + 1) / parts) {
                    quantizeRow(stored, src + k * n, count: n, into: dst + (range.lowerBound + k) * rb)
                }
            }
            if interleave {
                for g in stride(from: range.lowerBound, to: range.upperBound - Interleaved.rows + 1, by: Interleaved.rows) {
                    Interleaved.interleave(dst + g * rb, type: stored, rowBytes: rb)
                }
            }
        }
        return try GGMLLinear(type: stored, out: out, in: n, storage: storage, requested: format, note: note, interleaved: interleave)
    }

    /// The index of the first NaN or infinity in `x`, if any. x·0 is 0 for every finite x and NaN
    /// otherwise, so eight lanes summing x·0 find out whether to look: a vectorized pass instead of
    /// a compare and branch per value (with Swift's checks on, that scan cost 43% of what
    /// quantizing the values to q4_0 costs, callgrind).
    static func firstNonFinite(_ x: UnsafePointer<Float>, count: Int) -> Int? {
        var acc = SIMD8<Float>(), i = 0
        let raw = UnsafeRawPointer(x)
        while i &+ 8 <= count {
            acc += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) * 0
            i &+= 8
        }
        while i < count { acc[0] += x[i] * 0; i &+= 1 }
        guard acc.sum() != 0 else { return nil }   // NaN != 0
        return (0..<count).first { !x[$0].isFinite }
    }

    /// One row of `n` values (a multiple of the block) quantized into `dst`.
    public static func quantizeRow(_ format: GGMLFormat, _ x: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutableRawPointer) {
        switch format {
        case .f32: dst.copyMemory(from: x, byteCount: n * 4)
        case .f16:
            let h = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { h[i] = fp16Bits(x[i]).littleEndian }
        case .q4_0: Q4_0.quantizeRow(x, count: n, into: dst)
        case .q4_1: Q4_1.quantizeRow(x, count: n, into: dst)
        case .q5_0: Q5_0.quantizeRow(x, count: n, into: dst)
        case .q5_1: Q5_1.quantizeRow(x, count: n, into: dst)
        case .q8_0: Q8_0.quantizeRow(x, count: n, into: dst)
        case .q2_k: Q2_K.quantizeRow(x, count: n, into: dst)
        case .q3_k: Q3_K.quantizeRow(x, count: n, into: dst)
        case .q4_k: Q4_K.quantizeRow(x, count: n, into: dst)
        case .q5_k: Q5_K.quantizeRow(x, count: n, into: dst)
        case .q6_k: Q6_K.quantizeRow(x, count: n, into: dst)
        case .iq4_nl: IQ4_NL.quantizeRow(x, count: n, into: dst)
        case .iq4_xs: IQ4_XS.quantizeRow(x, count: n, into: dst)
        case .q8_k: fatalError("q8_K rows are made by the activation quantizer")
        }
    }

    /// One stored row decoded to floats (llama.cpp's `dequantize_row_*`).
    public static func dequantize(_ format: GGMLFormat, _ src: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        switch format {
        case .f32: x.update(from: src.assumingMemoryBound(to: Float.self), count: n)
        case .f16:
            for i in 0..<n { x[i] = fp16Value(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .q4_0: Q4_0.dequantizeRow(src, count: n, into: x)
        case .q4_1: Q4_1.dequantizeRow(src, count: n, into: x)
        case .q5_0: Q5_0.dequantizeRow(src, count: n, into: x)
        case .q5_1: Q5_1.dequantizeRow(src, count: n, into: x)
        case .q8_0: Q8_0.dequantizeRow(src, count: n, into: x)
        case .q2_k: Q2_K.dequantizeRow(src, count: n, into: x)
        case .q3_k: Q3_K.dequantizeRow(src, count: n, into: x)
        case .q4_k: Q4_K.dequantizeRow(src, count: n, into: x)
        case .q5_k: Q5_K.dequantizeRow(src, count: n, into: x)
        case .q6_k: Q6_K.dequantizeRow(src, count: n, into: x)
        case .iq4_nl: IQ4_NL.dequantizeRow(src, count: n, into: x)
        case .iq4_xs: IQ4_XS.dequantizeRow(src, count: n, into: x)
        case .q8_k:
            for b in 0..<n / 256 {
                let d = src.loadUnaligned(fromByteOffset: b * 292, as: Float.self)
                for j in 0..<256 { x[b * 256 + j] = d * Float(src.load(fromByteOffset: b * 292 + 4 + j, as: Int8.self)) }
            }
        }
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        guard isInterleaved(row: row) else { return GGMLLinear.dequantize(type, blocks + row * rowBytes, count: inFeatures, into: dst) }
        withUnsafeTemporaryAllocation(byteCount: rowBytes, alignment: 16) { plain in
            copyPlainRow(row, into: plain.baseAddress!)
            GGMLLinear.dequantize(type, plain.baseAddress!, count: inFeatures, into: dst)
        }
    }

    /// Whether `row` lies in an interleaved group (the rows past the last whole group are plain).
    func isInterleaved(row: Int) -> Bool { interleaved && row < outFeatures / Interleaved.rows * Interleaved.rows }

    /// Row `row` in the file layout (ggml blocks), into `dst` (`rowBytes` bytes).
    public func copyPlainRow(_ row: Int, into dst: UnsafeMutableRawPointer) {
        if isInterleaved(row: row) {
            let first = row / Interleaved.rows * Interleaved.rows
            Interleaved.plainRow(row - first, of: blocks + first * rowBytes, type: type, rowBytes: rowBytes, into: dst)
        } else {
            dst.copyMemory(from: blocks + row * rowBytes, byteCount: rowBytes)
        }
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        GGMLMatmul.forward(self, x, rows: rows, into: y, pool: pool)
    }

    /// The activation type llama.cpp pairs with this weight type (nil: plain floats).
    var activationBlock: Int? {
        switch type {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl: 32
        case .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs: 256
        default: nil
        }
    }
}
