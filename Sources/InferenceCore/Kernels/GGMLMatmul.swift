// `y = x · Wᵀ` for a weight in a ggml type: the activations are quantized to 8-bit blocks once per
// call (q8_0 or q8_K, as llama.cpp pairs them), then the threads take ranges of output rows (one each
// for a decode step, tiles claimed in turn for a prompt: ThreadPool.parallelChunks) and, for each
// weight row, run the integer dot product against every activation row, so a
// weight row is read from memory once per call however many tokens the call carries (prefill).
// A plain reference (`referenceForward`) computes the same thing through `GGMLDot.reference`.
import Foundation
import GGMLSIMD

enum GGMLMatmul {
    static func forward(_ w: GGMLLinear, _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let n = w.inFeatures, m = w.outFeatures, rb = w.rowBytes, base = w.blocks
        guard let block = w.activationBlock else {
            pool.parallelFor(m, granule: 4) { range in
                for o in range {
                    let wr = base + o * rb
                    for r in 0..<rows {
                        let xr = x + r * n
                        switch w.type {
                        case .f32: y[r * m + o] = F32Linear.dot(wr.assumingMemoryBound(to: Float.self), xr, n)
                        default: y[r * m + o] = GGMLDot.f16(wr, xr, n)
                        }
                    }
                }
            }
            return
        }
        let a = block == 32 ? QuantizedActivations.q8_0(x, rows: rows, n: n, pool: pool)
                            : QuantizedActivations.q8_K(x, rows: rows, n: n, pool: pool)
        let nb = a.blocksPerRow, groups = n / a.sumGroup
        a.q.withUnsafeBufferPointer { qp in
            a.d.withUnsafeBufferPointer { dp in
                a.sums.withUnsafeBufferPointer { sp in
                    let q = qp.baseAddress!, d = dp.baseAddress!, s = sp.baseAddress!
                    // Index arithmetic wraps (`&+`, `&*`) here: see F32Linear.tileProduct.
                    @inline(__always) func row(_ r: Int) -> GGMLDot.Row {
                        GGMLDot.Row(q: q + r &* n, d: d + r &* nb, sums: s + r &* groups)
                    }
                    // `dot4` takes four activation rows n values apart and writes their four sums.
                    @inline(__always) func run(_ dot: (UnsafeRawPointer, GGMLDot.Row, Int) -> Float,
                                               _ dot4: ((UnsafeRawPointer, GGMLDot.Row, Int, UnsafeMutablePointer<Float>) -> Void)? = nil) {
                        // Prefill goes over tiles of weight rows (about 16 KB; the threads claim them
                        // in turn) and, within a tile, four activation rows at a time: both stay in L1
                        // while they are reused, where a whole pass of the activations per weight row
                        // would come from L2.
                        pool.parallelChunks(m, chunk: rows == 1 ? pool.evenChunk(m, granule: 4) : max(1, 16384 / rb)) { tileRows, _ in
                            var v = SIMD4<Float>()
                            var r = 0
                            if let dot4 {
                                while r &+ 4 <= rows {
                                    for o in tileRows {
                                        withUnsafeMutableBytes(of: &v) { dot4(base + o &* rb, row(r), nb, $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
                                        let out = y + (r &* m &+ o)
                                        out[0] = v.x; out[m] = v.y; out[2 &* m] = v.z; out[3 &* m] = v.w
                                    }
                                    r &+= 4
                                }
                            }
                            for o in tileRows {
                                for r in r..<rows { y[r &* m &+ o] = dot(base + o &* rb, row(r), nb) }
                            }
                        }
                    }
                    if w.interleaved {
                        return interleaved(w, rows: rows, into: y, pool: pool, row: row)
                    }
                    switch w.type {
                    case .q8_0: run({ ggml_simd_q8_0($0, $1.q, $1.d, Int32($2)) },
                                    { ggml_simd_q8_0_x4($0, $1.q, $1.d, n, Int32($2), $3) })
                    case let t:
                        guard let (one, four) = kernels(t) else { fatalError("no integer kernel for \(t)") }
                        run({ one($0, $1.q, $1.d, $1.sums, Int32($2)) }, { four($0, $1.q, $1.d, $1.sums, n, Int32($2), $3) })
                    }
                }
            }
        }
    }

    typealias Dot = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int32>?, Int32) -> Float
    typealias Dot4 = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int32>?, Int, Int32, UnsafeMutablePointer<Float>?) -> Void

    /// The one-row and four-row kernels of the types that take the activations' sums (every
    /// integer type but q8_0); `plain` gives their plain C twins.
    static func kernels(_ type: GGMLFormat, plain: Bool = false) -> (Dot, Dot4)? {
        switch type {
        case .q4_0: plain ? (ggml_plain_q4_0, ggml_plain_q4_0_x4) : (ggml_simd_q4_0, ggml_simd_q4_0_x4)
        case .q4_1: plain ? (ggml_plain_q4_1, ggml_plain_q4_1_x4) : (ggml_simd_q4_1, ggml_simd_q4_1_x4)
        case .q5_0: plain ? (ggml_plain_q5_0, ggml_plain_q5_0_x4) : (ggml_simd_q5_0, ggml_simd_q5_0_x4)
        case .q5_1: plain ? (ggml_plain_q5_1, ggml_plain_q5_1_x4) : (ggml_simd_q5_1, ggml_simd_q5_1_x4)
        case .iq4_nl: plain ? (ggml_plain_iq4_nl, ggml_plain_iq4_nl_x4) : (ggml_simd_iq4_nl, ggml_simd_iq4_nl_x4)
        case .q2_k: plain ? (ggml_plain_q2_K, ggml_plain_q2_K_x4) : (ggml_simd_q2_K, ggml_simd_q2_K_x4)
        case .q3_k: plain ? (ggml_plain_q3_K, ggml_plain_q3_K_x4) : (ggml_simd_q3_K, ggml_simd_q3_K_x4)
        case .q4_k: plain ? (ggml_plain_q4_K, ggml_plain_q4_K_x4) : (ggml_simd_q4_K, ggml_simd_q4_K_x4)
        case .q5_k: plain ? (ggml_plain_q5_K, ggml_plain_q5_K_x4) : (ggml_simd_q5_K, ggml_simd_q5_K_x4)
        case .q6_k: plain ? (ggml_plain_q6_K, ggml_plain_q6_K_x4) : (ggml_simd_q6_K, ggml_simd_q6_K_x4)
        case .iq4_xs: plain ? (ggml_plain_iq4_xs, ggml_plain_iq4_xs_x4) : (ggml_simd_iq4_xs, ggml_simd_iq4_xs_x4)
        default: nil
        }
    }

    /// Rows interleaved in groups of 8 (Quant/Interleaved.swift): a job is a group, run against
    /// every activation row (four at a time) while its 8 rows sit in L1; the rows past the last
    /// group are plain and take the one-row kernel.
    private static func interleaved(_ w: GGMLLinear, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool,
                                    row: (Int) -> GGMLDot.Row) {
        let n = w.inFeatures, m = w.outFeatures, rb = w.rowBytes, base = w.blocks, nb = Int32(n / w.type.blockSize)
        let groups = m / Interleaved.rows, tail = groups * Interleaved.rows
        let (eight, eight4) = groupKernels(w.type)
        let one: (UnsafeRawPointer, GGMLDot.Row) -> Float
        if w.type == .q8_0 {
            one = { ggml_simd_q8_0($0, $1.q, $1.d, nb) }
        } else {
            let k = kernels(w.type)!.0
            one = { k($0, $1.q, $1.d, $1.sums, nb) }
        }
        // Prefill on a type with an all-rows kernel: each run of 4 groups the threads claim in one
        // call, pairs of groups kept together for the kernels that put two groups in a vector. A
        // type with a 16-row kernel (q4_0) runs pairs of groups on four activation rows at a
        // time; the rows left over and a last odd group take the 8-row kernels.
        let all = rows >= 4 ? allRowsKernel(w.type) : nil
        let wide = rows >= 4 && all == nil ? wideKernel(w.type) : nil
        let jobs = groups + (tail < m ? 1 : 0)
        pool.parallelChunks(jobs, chunk: rows == 1 ? pool.evenChunk(jobs) : 4) { range, _ in
            let g0 = range.lowerBound, g1 = min(range.upperBound, groups), r0 = row(0)
            if let all, g0 < g1 {
                all(base + g0 &* Interleaved.rows &* rb, Int32(g1 &- g0), r0.q, r0.d, r0.sums, n, nb, Int32(rows), y + g0 &* Interleaved.rows, m)
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { buffer in
                let out = buffer.baseAddress!
                // Group g against activation rows `from`..<rows.
                func rest(_ g: Int, from: Int) {
                    let o = g &* Interleaved.rows, gw = base + o &* rb
                    var r = from
                    while r &+ 4 <= rows {
                        eight4(gw, row(r), n, nb, out)
                        for k in 0..<4 { (y + ((r &+ k) &* m &+ o)).update(from: out + 8 &* k, count: 8) }
                        r &+= 4
                    }
                    while r < rows {
                        eight(gw, row(r), nb, out)
                        (y + (r &* m &+ o)).update(from: out, count: 8)
                        r &+= 1
                    }
                }
                var g = range.lowerBound
                while g < range.upperBound {
                    if g == groups {
                        for o in tail..<m {
                            for r in 0..<rows { y[r &* m &+ o] = one(base + o &* rb, row(r)) }
                        }
                    } else if all != nil {      // done by the all-rows call above
                    } else if let wide, g &+ 1 < g1 {
                        let o = g &* Interleaved.rows, gw = base + o &* rb
                        var r = 0
                        while r &+ 4 <= rows {
                            wide(gw, Interleaved.rows &* rb, row(r), n, nb, out)
                            for k in 0..<4 { (y + ((r &+ k) &* m &+ o)).update(from: out + 16 &* k, count: 16) }
                            r &+= 4
                        }
                        rest(g, from: r); rest(g &+ 1, from: r)
                        g &+= 1
                    } else {
                        rest(g, from: 0)
                    }
                    g &+= 1
                }
            }
        }
    }

    typealias GroupAll = @convention(c) (UnsafeRawPointer?, Int32, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int32>?,
                                         Int, Int32, Int32, UnsafeMutablePointer<Float>?, Int) -> Void

    /// The kernels that take every activation row at once for a run of groups (GGMLSIMD.h,
    /// ggml_simd_*x8_xn: each super-block unpacked once per call), for the types that have one.
    static func allRowsKernel(_ type: GGMLFormat, plain: Bool = false) -> GroupAll? {
        switch type {
        case .q6_k: plain ? ggml_plain_q6_Kx8_xn : ggml_simd_q6_Kx8_xn
        case .q4_k: plain ? ggml_plain_q4_Kx8_xn : ggml_simd_q4_Kx8_xn
        case .q5_k: plain ? ggml_plain_q5_Kx8_xn : ggml_simd_q5_Kx8_xn
        case .q3_k: plain ? ggml_plain_q3_Kx8_xn : ggml_simd_q3_Kx8_xn
        case .q2_k: plain ? ggml_plain_q2_Kx8_xn : ggml_simd_q2_Kx8_xn
        case .iq4_xs: plain ? ggml_plain_iq4_xsx8_xn : ggml_simd_iq4_xsx8_xn
        case .iq4_nl: plain ? ggml_plain_iq4_nlx8_xn : ggml_simd_iq4_nlx8_xn
        default: nil
        }
    }

    typealias Wide = (UnsafeRawPointer, Int, GGMLDot.Row, Int, Int32, UnsafeMutablePointer<Float>) -> Void

    /// The kernel on two consecutive groups (16 rows, the second `group bytes` after the first)
    /// and four activation rows `stride` values apart, writing out[16k + r]; nil where a type has none.
    static func wideKernel(_ type: GGMLFormat, plain: Bool = false) -> Wide? {
        switch type {
        case .q4_0: plain ? { ggml_plain_q4_0x16_x4($0, $1, $2.q, $2.d, $2.sums, $3, $4, $5) }
                          : { ggml_simd_q4_0x16_x4($0, $1, $2.q, $2.d, $2.sums, $3, $4, $5) }
        default: nil
        }
    }

    typealias Group = (UnsafeRawPointer, GGMLDot.Row, Int32, UnsafeMutablePointer<Float>) -> Void
    typealias Group4 = (UnsafeRawPointer, GGMLDot.Row, Int, Int32, UnsafeMutablePointer<Float>) -> Void

    /// The kernels on 8 interleaved rows: one activation row, and four `stride` values apart
    /// (`plain`: their plain C twins).
    static func groupKernels(_ type: GGMLFormat, plain: Bool = false) -> (Group, Group4) {
        typealias C8 = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int32>?, Int32, UnsafeMutablePointer<Float>?) -> Void
        typealias C84 = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int32>?, Int, Int32, UnsafeMutablePointer<Float>?) -> Void
        let pair: (C8, C84)
        switch type {
        case .q8_0:
            return plain ? ({ ggml_plain_q8_0x8($0, $1.q, $1.d, $2, $3) }, { ggml_plain_q8_0x8_x4($0, $1.q, $1.d, $2, $3, $4) })
                         : ({ ggml_simd_q8_0x8($0, $1.q, $1.d, $2, $3) }, { ggml_simd_q8_0x8_x4($0, $1.q, $1.d, $2, $3, $4) })
        case .q4_0: pair = plain ? (ggml_plain_q4_0x8, ggml_plain_q4_0x8_x4) : (ggml_simd_q4_0x8, ggml_simd_q4_0x8_x4)
        case .q5_0: pair = plain ? (ggml_plain_q5_0x8, ggml_plain_q5_0x8_x4) : (ggml_simd_q5_0x8, ggml_simd_q5_0x8_x4)
        case .q4_k: pair = plain ? (ggml_plain_q4_Kx8, ggml_plain_q4_Kx8_x4) : (ggml_simd_q4_Kx8, ggml_simd_q4_Kx8_x4)
        case .q6_k: pair = plain ? (ggml_plain_q6_Kx8, ggml_plain_q6_Kx8_x4) : (ggml_simd_q6_Kx8, ggml_simd_q6_Kx8_x4)
        case .q4_1: pair = plain ? (ggml_plain_q4_1x8, ggml_plain_q4_1x8_x4) : (ggml_simd_q4_1x8, ggml_simd_q4_1x8_x4)
        case .q5_1: pair = plain ? (ggml_plain_q5_1x8, ggml_plain_q5_1x8_x4) : (ggml_simd_q5_1x8, ggml_simd_q5_1x8_x4)
        case .iq4_nl: pair = plain ? (ggml_plain_iq4_nlx8, ggml_plain_iq4_nlx8_x4) : (ggml_simd_iq4_nlx8, ggml_simd_iq4_nlx8_x4)
        case .q2_k: pair = plain ? (ggml_plain_q2_Kx8, ggml_plain_q2_Kx8_x4) : (ggml_simd_q2_Kx8, ggml_simd_q2_Kx8_x4)
        case .q3_k: pair = plain ? (ggml_plain_q3_Kx8, ggml_plain_q3_Kx8_x4) : (ggml_simd_q3_Kx8, ggml_simd_q3_Kx8_x4)
        case .q5_k: pair = plain ? (ggml_plain_q5_Kx8, ggml_plain_q5_Kx8_x4) : (ggml_simd_q5_Kx8, ggml_simd_q5_Kx8_x4)
        case .iq4_xs: pair = plain ? (ggml_plain_iq4_xsx8, ggml_plain_iq4_xsx8_x4) : (ggml_simd_iq4_xsx8, ggml_simd_iq4_xsx8_x4)
        default: fatalError("\(type) has no interleaved kernels")
        }
        let (k8, k84) = pair
        return ({ k8($0, $1.q, $1.d, $1.sums, $2, $3) }, { k84($0, $1.q, $1.d, $1.sums, $2, $3, $4) })
    }

    /// The plain version of `forward`, for tests: same activation quantization, reference dots.
    static func referenceForward(_ w: GGMLLinear, _ x: UnsafePointer<Float>, rows: Int) -> [Float] {
        let n = w.inFeatures, m = w.outFeatures
        var y = [Float](repeating: 0, count: rows * m)
        guard let block = w.activationBlock else {
            var wr = [Float](repeating: 0, count: n)
            for o in 0..<m {
                wr.withUnsafeMutableBufferPointer { w.dequantizeRow(o, into: $0.baseAddress!) }
                for r in 0..<rows {
                    var s: Double = 0
                    for i in 0..<n { s += Double(wr[i]) * Double(x[r * n + i]) }
                    y[r * m + o] = Float(s)
                }
            }
            return y
        }
        let a = block == 32 ? QuantizedActivations.q8_0(x, rows: rows, n: n, pool: nil)
                            : QuantizedActivations.q8_K(x, rows: rows, n: n, pool: nil)
        let nb = a.blocksPerRow, groups = n / a.sumGroup
        a.q.withUnsafeBufferPointer { qp in
            a.d.withUnsafeBufferPointer { dp in
                a.sums.withUnsafeBufferPointer { sp in
                    let plain = UnsafeMutableRawPointer.allocate(byteCount: w.rowBytes, alignment: 16)
                    defer { plain.deallocate() }
                    for o in 0..<m {
                        w.copyPlainRow(o, into: plain)
                        for r in 0..<rows {
                            let row = GGMLDot.Row(q: qp.baseAddress! + r * n, d: dp.baseAddress! + r * nb, sums: sp.baseAddress! + r * groups)
                            y[r * m + o] = GGMLDot.reference(w.type, plain, row, block: block, n: n)
                        }
                    }
                }
            }
        }
        return y
    }
}
