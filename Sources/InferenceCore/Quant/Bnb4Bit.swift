// bnb-nf4 / bnb-fp4: bitsandbytes' 4-bit block formats (QLoRA, Dettmers et al. 2023), with the
// numerics of bitsandbytes 0.50.2 as transformers loads an F32 checkpoint (bnb_4bit_compute_dtype
// float32: the F32 weight is quantized as is, dequantized values are code × absmax in F32).
//
// The weight [out, in] is flattened row-major and cut into blocks of `block_size` (default 64)
// consecutive values; a block spans two rows when in % block_size != 0, as in bitsandbytes.
//   packed     U8   two 4-bit codes per byte, the FIRST value of each pair in the HIGH nibble
//                   ((n+1)/2 bytes for n weights)
//   absmax[b]  F32  max |w| over block b (4 bytes per block)
//   w ≈ codebook[code] × absmax[b]
// With double quantization (`double_quant: 1`) the absmax values are themselves quantized, as
// bitsandbytes' `compress_statistics` does, to 8-bit codes of its signed dynamic map in blocks
// of 256 after subtracting their mean:
//   offset      F32  mean of all absmax (4 bytes)
//   absmax8[b]  U8   dynamic-map code of (absmax[b] - offset) / absmax2[b / 256]  (1 byte per block)
//   absmax2[k]  F32  max |absmax - offset| over 256 blocks (4 bytes per 256 blocks)
//   absmax[b] ≈ dynamic[absmax8[b]] × absmax2[b / 256] + offset
// Bits per weight at block 64: 4 + 32/64 = 4.5; with double quantization ≈ 4.127.
//
// Code books (index = 4-bit code):
//   NF4: the 16 values of bitsandbytes' NormalFloat (quantiles of N(0,1), asymmetric, exact 0 at
//        code 7) scaled to [-1, 1]. Quantizing walks bitsandbytes' decision tree (dQuantizeNF4),
//        whose thresholds are the midpoints between neighbouring values.
//   FP4: bit 3 = sign, bits 2..0 a 2-bit-exponent 1-bit-mantissa float:
//        000=0 001=0.0625 010=8 011=12 100=4 101=6 110=2 111=3, all divided by 12 (FP4's max).
//        Quantizing walks bitsandbytes' tree (dQuantizeFP4); -0 gets the sign bit.
// Quantizing a block: s = 1 / absmax (F32), code = tree(w × s). A block of zeros has absmax 0,
// s = inf and w × s = NaN, which both trees send to a code whose value times 0 is 0, as on CUDA.
import Foundation
import GGMLSIMD

public enum Bnb4BitCodeBook: String, Sendable {
    case nf4, fp4

    public var values: [Float] {
        switch self {
        case .nf4:
            return [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]
        case .fp4:
            let raw: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3]
            return raw.map { $0 / 12 }
        }
    }

    /// The 4-bit code of `x` (a weight already divided by its block's absmax), exactly as
    /// bitsandbytes' CUDA kernels choose it.
    @inline(__always)
    public func code(_ x: Float) -> UInt8 {
        switch self {
        case .nf4: return Bnb4BitCodeBook.nf4Code(x)
        case .fp4: return Bnb4BitCodeBook.fp4Code(x)
        }
    }

    @inline(__always)
    static func nf4Code(_ x: Float) -> UInt8 {
        if x > 0.03979014977812767 {
            if x > 0.3893125355243683 {
                if x > 0.6427869200706482 { return x > 0.8614784181118011 ? 0b1111 : 0b1110 }
                return x > 0.5016634166240692 ? 0b1101 : 0b1100
            }
            if x > 0.2035212516784668 { return x > 0.2920137718319893 ? 0b1011 : 0b1010 }
            return x > 0.1202552504837513 ? 0b1001 : 0b1000
        }
        if x > -0.33967943489551544 {
            if x > -0.13791173323988914 { return x > -0.045525018125772476 ? 0b0111 : 0b0110 }
            return x > -0.23460740596055984 ? 0b0101 : 0b0100
        }
        if x > -0.6106329262256622 { return x > -0.4599952697753906 ? 0b0011 : 0b0010 }
        return x > -0.8480964004993439 ? 0b0001 : 0b0000
    }

    @inline(__always)
    static func fp4Code(_ v: Float) -> UInt8 {
        let sign: UInt8 = v < 0 ? 0b1000 : 0
        let x = abs(v)
        if x > 0.29166667 {
            if x > 0.583333 { return (x > 0.8333333 ? 0b0011 : 0b0010) + sign }
            return (x > 0.4166667 ? 0b0101 : 0b0100) + sign
        }
        if x > 0.0859375 { return (x > 0.20833333 ? 0b0111 : 0b0110) + sign }
        return (x > 0.00260417 ? 0b0001 : 0b0000) + sign
    }
}

/// bitsandbytes' signed dynamic 8-bit map (`create_dynamic_map(signed=True)`), used for the
/// double-quantized absmax values, and its nearest-value search (`dQuantize`, binary search over
/// the sorted map, ties to the lower code).
public enum BnbDynamicMap {
    /// 256 sorted values in [-1, 1]: for exponent i = 0...6, 2^i means of linspace(0.1, 1, 2^i + 1)
    /// scaled by 10^(i-6), both signs, plus 0 and 1. Computed in F32 as PyTorch computes it
    /// (bitsandbytes builds the map with torch on the CPU, then copies it to the GPU).
    public static let values: [Float] = {
        var data: [Float] = []
        for i in 0..<7 {
            let items = (1 << i) + 1
            // torch.linspace in F32 (torch 2.13, vectorized): start + step·k for the first half,
            // end - step·(n-1-k) after, each one fused multiply-add. Unfused, 42 of the 256
            // values are one unit in the last place off bitsandbytes' map.
            let start: Float = 0.1, end: Float = 1, step = (end - start) / Float(items - 1)
            let bounds: [Float] = (0..<items).map { k in
                k < items / 2 ? start.addingProduct(step, Float(k)) : end.addingProduct(-step, Float(items - 1 - k))
            }
            let scale = Float(pow(10.0, Double(i - 6)))
            for k in 0..<(items - 1) {
                let mean = (bounds[k] + bounds[k + 1]) / 2
                data.append(scale * mean)
                data.append(-scale * mean)
            }
        }
        data.append(0); data.append(1)
        return data.sorted()
    }()

    public static func code(_ x: Float, _ map: UnsafePointer<Float>) -> UInt8 {
        var pivot = 127, upperPivot = 255, lowerPivot = 0
        var lower: Float = -1, upper: Float = 1
        var val = map[pivot]
        var i = 64
        while i > 0 {
            if x > val { lowerPivot = pivot; lower = val; pivot += i } else { upperPivot = pivot; upper = val; pivot -= i }
            val = map[pivot]
            i >>= 1
        }
        if upperPivot == 255 { upper = map[upperPivot] }
        if lowerPivot == 0 { lower = map[lowerPivot] }
        if x > val { return UInt8(x > (upper + val) * 0.5 ? upperPivot : pivot) }
        return UInt8(x < (lower + val) * 0.5 ? lowerPivot : pivot)
    }
}

public final class Bnb4BitLinear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public let codeBook: Bnb4BitCodeBook
    public let blockSize: Int
    public let doubleQuant: Bool
    public var format: String { "bnb-" + codeBook.rawValue }

    /// Two codes per byte, first in the high nibble (on huge pages: WeightArray).
    public let packed: WeightArray<UInt8>
    /// Per-block absmax (empty with double quantization).
    public let absmax: [Float]
    /// Double quantization: 8-bit codes, per-256-block scales, the mean offset.
    public let absmax8: [UInt8]
    public let absmax2: [Float]
    public let offset: Float
    /// The 16 code values (Float) and, for double quantization, the 256 dynamic-map values.
    private let table: [Float]
    private let dynamic: [Float]
    /// The two values of every byte, (codebook[hi], codebook[lo]) as the bits of an F32 pair (hi in
    /// the low half): one 8-byte load decodes a byte when rows are widened to F32 (prefill).
    private let pairTable: [UInt64]

    public var blockCount: Int { (outFeatures * inFeatures + blockSize - 1) / blockSize }
    public var storedBytes: Int {
        packed.count + (doubleQuant ? absmax8.count + absmax2.count * 4 + 4 : absmax.count * 4)
    }

    /// Block sizes bitsandbytes' kernels accept.
    public static let blockSizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]

    public convenience init(values: [Float], out: Int, in inFeatures: Int, codeBook: Bnb4BitCodeBook,
                            blockSize: Int = 64, doubleQuant: Bool = false) {
        self.init(rows: WeightRows(values, out: out, in: inFeatures), codeBook: codeBook, blockSize: blockSize, doubleQuant: doubleQuant)
    }

    public init(rows: WeightRows, codeBook: Bnb4BitCodeBook, blockSize: Int = 64, doubleQuant: Bool = false) {
        precondition(blockSize > 0 && blockSize % 2 == 0)
        let out = rows.out, inFeatures = rows.inFeatures
        outFeatures = out; self.inFeatures = inFeatures
        self.codeBook = codeBook; self.blockSize = blockSize; self.doubleQuant = doubleQuant
        table = codeBook.values
        dynamic = BnbDynamicMap.values
        pairTable = (0..<256).map { [t = codeBook.values] b in
            UInt64(t[b >> 4].bitPattern) | UInt64(t[b & 15].bitPattern) << 32
        }
        let n = out * inFeatures, blocks = (n + blockSize - 1) / blockSize
        var am = [Float](repeating: 0, count: blocks)
        // Blocks run over the flattened weight: chunks hold whole blocks (an even count of values,
        // so no byte is split between chunks). An odd count pads with the code of 0, as bitsandbytes.
        let pairs = WeightArray<UInt8>(repeating: codeBook.code(0) &* 17, count: (n + 1) / 2), pp = pairs.mutableBase
        let rowMultiple = blockSize / Bnb4BitLinear.gcd(inFeatures, blockSize)
        rows.forEachChunk(rowMultiple: rowMultiple) { r, v in
            let base = r.lowerBound * inFeatures, count = r.count * inFeatures
            for lo in stride(from: 0, to: count, by: blockSize) {
                let hi = min(count, lo + blockSize)
                var m: Float = 0
                for i in lo..<hi { m = Swift.max(m, abs(v[i])) }
                am[(base + lo) / blockSize] = m
                let s = 1 / m
                for i in lo..<hi {
                    let g = base + i, c = codeBook.code(v[i] * s)
                    pp[g / 2] = g & 1 == 0 ? c << 4 | (pp[g / 2] & 15) : (pp[g / 2] & 0xF0) | c
                }
            }
        }
        packed = pairs
        if doubleQuant {
            let (q, scales, off) = Bnb4BitLinear.doubleQuantize(am, dynamic)
            absmax8 = q; absmax2 = scales; offset = off; absmax = []
        } else {
            absmax = am; absmax8 = []; absmax2 = []; offset = 0
        }
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// bitsandbytes `quantize_4bit(compress_statistics=True)`: offset = mean(absmax), then
    /// `quantize_blockwise(absmax - offset, blocksize=256)` with the dynamic map.
    static func doubleQuantize(_ am: [Float], _ map: [Float]) -> ([UInt8], [Float], Float) {
        let mean = Float(am.reduce(0.0) { $0 + Double($1) } / Double(max(1, am.count)))
        let centered = am.map { $0 - mean }
        let blocks = (centered.count + 255) / 256
        var codes = [UInt8](repeating: 0, count: centered.count)
        var scales = [Float](repeating: 0, count: blocks)
        map.withUnsafeBufferPointer { mp in
            for b in 0..<blocks {
                let lo = b * 256, hi = min(centered.count, lo + 256)
                var m: Float = 0
                for i in lo..<hi { m = Swift.max(m, abs(centered[i])) }
                scales[b] = m
                let s = 1 / m
                for i in lo..<hi { codes[i] = BnbDynamicMap.code(centered[i] * s, mp.baseAddress!) }
            }
        }
        return (codes, scales, mean)
    }

    /// The absmax of block `b` as the kernels use it (dequantized when double-quantized).
    @inline(__always)
    public func blockScale(_ b: Int) -> Float {
        doubleQuant ? dynamic[Int(absmax8[b])] * absmax2[b >> 8] + offset : absmax[b]
    }

    /// Code of flat element `i`.
    @inline(__always)
    public func code(at i: Int) -> UInt8 {
        let byte = packed[i >> 1]
        return i & 1 == 0 ? byte >> 4 : byte & 0x0F
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        let n = inFeatures, bs = blockSize
        packed.withUnsafeBufferPointer { p in
            pairTable.withUnsafeBufferPointer { pt in
                let raw = UnsafeMutableRawPointer(dst)
                var j = 0
                while j < n {
                    // One block's part of the row at a time; pairs of values through the pair table
                    // (a block starts at an even element: it never splits a byte).
                    let i = row * n + j, b = i / bs, end = min(n, (b + 1) * bs - row * n), scale = blockScale(b)
                    if i & 1 == 1 { dst[j] = table[Int(p[i >> 1] & 0x0F)] * scale; j += 1 }
                    while j + 2 <= end {
                        raw.storeBytes(of: pt[Int(p[(row * n + j) >> 1])], toByteOffset: j * 4, as: UInt64.self)
                        dst[j] *= scale; dst[j + 1] *= scale
                        j += 2
                    }
                    if j < end { dst[j] = table[Int(p[(row * n + j) >> 1] >> 4)] * scale; j += 1 }
                }
            }
        }
    }

    /// Where rows and blocks are whole 32-value chunks, the C kernels (Sources/GGMLSIMD/bnb4.c: one
    /// `vpermps` per 16 codes) work on activations put in the kernels' order once per call: decode (one
    /// activation row) dots each thread's range of weight rows with them, four rows at a time; a
    /// prompt widens tiles of weight rows to F32 in that order (6x faster than the pair table, which
    /// cost a third of a prompt) and runs F32's tiled product. Other shapes widen through
    /// dequantizeRow.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let n = inFeatures, m = outFeatures, bs = blockSize
        guard n % 32 == 0, bs % 32 == 0 else {
            F32Linear.widenedProduct(x, rows: rows, into: y, m: m, n: n, pool: pool) { o, dst in dequantizeRow(o, into: dst) }
            return
        }
        let xp = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
        defer { xp.deallocate() }
        for r in 0..<rows { bnb4_order(x + r * n, Int32(n), xp + r * n) }
        withScales { scales in
            packed.withUnsafeBufferPointer { p in
                table.withUnsafeBufferPointer { t in
                    let pp = p.baseAddress!, tp = t.baseAddress!
                    if rows == 1 {
                        pool.parallelFor(m, granule: 4) { range in
                            bnb4_simd_dot(pp, range.lowerBound * n, Int32(range.count), Int32(n), Int32(bs), scales, tp, xp, y + range.lowerBound)
                        }
                    } else {
                        F32Linear.widenedProduct(xp, rows: rows, into: y, m: m, n: n, pool: pool) { o, dst in
                            bnb4_simd_widen(pp, o * n, Int32(n), Int32(bs), scales, tp, dst)
                        }
                    }
                }
            }
        }
    }

    /// The block scales as the C kernels take them.
    func withScales<R>(_ body: (UnsafePointer<bnb4_scales>) -> R) -> R {
        absmax.withUnsafeBufferPointer { am in
            absmax8.withUnsafeBufferPointer { a8 in
                absmax2.withUnsafeBufferPointer { a2 in
                    dynamic.withUnsafeBufferPointer { dm in
                        var s = bnb4_scales(absmax: doubleQuant ? nil : am.baseAddress, absmax8: a8.baseAddress,
                                            absmax2: a2.baseAddress, dynamic: dm.baseAddress, offset: offset)
                        return withUnsafePointer(to: &s) { body($0) }
                    }
                }
            }
        }
    }

    /// One version of the decode kernel on every row, for tests. The codes are copied to
    /// end right before an unreadable page, so a kernel that reads past them crashes the test.
    func kernelDots(_ x: UnsafePointer<Float>, kernel: KernelVersion) -> [Float] {
        precondition(inFeatures % 32 == 0 && blockSize % 32 == 0)
        var xp = [Float](repeating: 0, count: inFeatures), y = [Float](repeating: 0, count: outFeatures)
        bnb4_order(x, Int32(inFeatures), &xp)
        let dot = switch kernel { case .simd: bnb4_simd_dot; case .avx2: bnb4_avx2_dot; case .plain: bnb4_plain_dot }
        let bytes = packed.count, page = Int(getpagesize()), span = (bytes + page - 1) / page * page
        guard let map = mmap(nil, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), map != MAP_FAILED,
              mprotect(map + span, page, PROT_NONE) == 0 else { fatalError("kernelDots: cannot map \(span + page) bytes") }
        defer { munmap(map, span + page) }
        let codes = (map + span - bytes).assumingMemoryBound(to: UInt8.self)
        packed.withUnsafeBufferPointer { codes.update(from: $0.baseAddress!, count: bytes) }
        withScales { s in
            table.withUnsafeBufferPointer { t in
                dot(codes, 0, Int32(outFeatures), Int32(inFeatures), Int32(blockSize), s, t.baseAddress!, xp, &y)
            }
        }
        return y
    }

    /// Row `row` as one version of the prompt kernel widens it, back in value order, for tests.
    func kernelWidenedRow(_ row: Int, kernel: KernelVersion) -> [Float] {
        precondition(inFeatures % 32 == 0 && blockSize % 32 == 0)
        let n = inFeatures
        var w = [Float](repeating: 0, count: n)
        let widen = switch kernel { case .simd: bnb4_simd_widen; case .avx2: bnb4_avx2_widen; case .plain: bnb4_plain_widen }
        withScales { s in
            packed.withUnsafeBufferPointer { p in
                table.withUnsafeBufferPointer { t in widen(p.baseAddress!, row * n, Int32(n), Int32(blockSize), s, t.baseAddress!, &w) }
            }
        }
        return (0..<n).map { i in w[Int(bnb4_position(Int32(i), Int32(n)))] }
    }

    /// Plain reference for tests: dequantize each weight and accumulate in Double.
    public func referenceDot(row: Int, _ x: UnsafePointer<Float>) -> Float {
        var s: Double = 0
        for j in 0..<inFeatures {
            let i = row * inFeatures + j
            s += Double(table[Int(code(at: i))] * blockScale(i / blockSize)) * Double(x[j])
        }
        return Float(s)
    }
}
