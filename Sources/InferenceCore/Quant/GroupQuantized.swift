// gptq / awq / rtn: integer codes in groups along the input, each group with its own scale and zero
// point per output row — what GPTQ, AWQ and round-to-nearest produce (Calibration/) and what GPTQ
// and AWQ checkpoints store (Formats/GPTQCheckpoint.swift):
//
//   w[o][i] = scale[o][g] · (code[o][i] − zero[o][g]),   g = g_idx[i]
//
// In memory, a row holds its codes in group order (act-order checkpoints permute the inputs; the
// activations are permuted once per call instead), each group padded to whole blocks of 32 codes
// (padding codes are 0 against activations of 0), all groups the same number of blocks:
//   block (32 codes)  4 bits: 16 bytes, byte j = code j (low nibble) | code j+16 (high nibble)
//                     8 bits: 32 bytes, one per code
//                     2 bits:  8 bytes, byte j = codes j, j+8, j+16, j+24 (2 bits each, from bit 0)
//                     3 bits: 12 bytes, the low 2 bits as 2-bit, then 4 bytes of high bits (bit j%8
//                             of byte 8 + j/8 = bit 2 of code j)
//   row o             groups × blocksPerGroup blocks
//   scales            fp16 [out][groups]      zeros   u8 [out][groups]
//   position          i32 [in]: where input column i lives in a row (identity but for act-order)
// 4-bit rows go by 16 (tiles; the rows past the last whole tile stay as above): tile t holds rows
// 16t…16t+15 in their own 16 × rowBytes bytes, block k of all 16 rows side by side in 256 bytes,
// byte j of row r's plain block at 64·(j/4) + 4r + j%4; the tile's scales and zeros [groups][16].
// So one vector of 64 bytes holds 4 consecutive bytes of 16 rows, and a decode streams each tile
// front to back with no horizontal sums (q4_0's 16-row layout, Quant/Interleaved.swift, the same way).
// Bits per weight at 4-bit, group 128: 4 + (16 + 8)/128 = 4.19.
//
// Multiplying: the activations are permuted into place and quantized to q8 blocks of 32 (as for
// q4_0), and each group's sum Σ_b d_b·Σx computed once; then per row (GroupQuantSIMD.h)
//   y = Σ_g s_g · (Σ_b d_b·(codes·x_b) − z_g · gsum_g)
// so the zero point costs one multiply per group. `referenceForward` is the same sum in plain Swift.
import Foundation
import GGMLSIMD

public final class GroupQuantizedLinear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public let bits: Int
    /// Nominal group size (-1: one group per row), as checkpoints name it.
    public let groupSize: Int
    /// "gptq", "awq" or "rtn": the method that chose the values.
    public let format: String
    public let groups: Int
    public let blocksPerGroup: Int
    public let blockBytes: Int
    public let rowBytes: Int
    let codes: Storage
    /// fp16 bits, [out][groups].
    let scales: [UInt16]
    /// [out][groups].
    let zeros: [UInt8]
    /// The group of each input column.
    public let gIdx: [Int32]
    /// Input column i lives at slot position[i] of a row.
    let position: [Int32]
    /// Whether `position` is the identity (no permutation, no padding): activations go in as they are.
    let contiguous: Bool
    /// Whole tiles of 16 rows (4-bit codes only; 0 otherwise).
    public let tiles: Int
    static let tileRows = 16

    public var storedBytes: Int {
        rowBytes * outFeatures + scales.count * 2 + zeros.count + (contiguous ? 0 : position.count * 4)
    }

    /// Builds the stored form of `q` (scales rounded to fp16, as checkpoints keep them).
    public convenience init(_ q: GroupQuantizedWeight, format: String) throws {
        let scales = q.scales.map { Float16($0).bitPattern }
        try self.init(out: q.out, in: q.inFeatures, bits: q.bits, groupSize: q.groupSize, format: format,
                      gIdx: q.gIdx, scalesByGroup: scales, zerosByGroup: q.zeros.map { UInt8(exactly: $0) ?? 255 },
                      code: { o, i in q.codes[o * q.inFeatures + i] })
    }

    /// `scalesByGroup`/`zerosByGroup` are `[groups, out]` (checkpoint order); `code(o, i)` gives each code.
    public init(out: Int, in n: Int, bits: Int, groupSize: Int, format: String, gIdx: [Int32],
                scalesByGroup: [UInt16], zerosByGroup: [UInt8], code: (Int, Int) -> UInt8) throws {
        guard [2, 3, 4, 8].contains(bits) else { throw CoreError.invalid("\(format): \(bits)-bit codes are not supported (2, 3, 4 or 8)") }
        guard gIdx.count == n, n > 0, out > 0 else { throw CoreError.invalid("\(format): g_idx has \(gIdx.count) entries for \(n) inputs") }
        let groups = scalesByGroup.count / out
        guard groups > 0, scalesByGroup.count == groups * out, zerosByGroup.count == groups * out else {
            throw CoreError.invalid("\(format): \(scalesByGroup.count) scales and \(zerosByGroup.count) zeros for \(out) outputs")
        }
        let maxCode = UInt8((1 << bits) - 1)
        if let bad = zerosByGroup.firstIndex(where: { $0 > maxCode }) {
            throw CoreError.invalid("\(format): zero point \(zerosByGroup[bad]) of group \(bad / out), output \(bad % out) does not fit in \(bits) bits")
        }
        var members = [Int](repeating: 0, count: groups)
        for g in gIdx {
            guard g >= 0, Int(g) < groups else { throw CoreError.invalid("\(format): g_idx holds group \(g), but there are \(groups) groups") }
            members[Int(g)] += 1
        }
        let bpg = max(1, (members.max()! + 31) / 32)
        let bb = bits * 4
        outFeatures = out; inFeatures = n; self.bits = bits; self.groupSize = groupSize; self.format = format
        self.groups = groups; blocksPerGroup = bpg; blockBytes = bb; rowBytes = groups * bpg * bb
        self.gIdx = gIdx
        var next = (0..<groups).map { $0 * bpg * 32 }
        var position = [Int32](repeating: 0, count: n)
        for i in 0..<n { let g = Int(gIdx[i]); position[i] = Int32(next[g]); next[g] += 1 }
        self.position = position
        contiguous = groups * bpg * 32 == n && position.enumerated().allSatisfy { $0.offset == Int($0.element) }
        let tiles = bits == 4 ? out / Self.tileRows : 0
        self.tiles = tiles
        var s = [UInt16](repeating: 0, count: out * groups), z = [UInt8](repeating: 0, count: out * groups)
        for g in 0..<groups {
            for o in 0..<out {
                let k = Self.scaleIndex(o, g, groups: groups, tiles: tiles)
                s[k] = scalesByGroup[g * out + o]; z[k] = zerosByGroup[g * out + o]
            }
        }
        scales = s; zeros = z
        codes = Storage(byteCount: out * groups * bpg * bb)
        let slots = groups * bpg * 32
        var row = [UInt8](repeating: 0, count: slots)
        for o in 0..<out {
            for k in 0..<slots { row[k] = 0 }
            for i in 0..<n {
                let c = code(o, i)
                guard c <= maxCode else { throw CoreError.invalid("\(format): code \(c) at output \(o), input \(i) does not fit in \(bits) bits") }
                row[Int(position[i])] = c
            }
            let dst = codes.base + o * groups * bpg * bb
            for b in 0..<groups * bpg { Self.pack(bits, row, from: b * 32, into: dst + b * bb) }
        }
        let rb = rowBytes, plain = UnsafeMutableRawPointer.allocate(byteCount: Self.tileRows * rb, alignment: 64)
        defer { plain.deallocate() }
        for t in 0..<tiles {
            let tile = codes.base + t * Self.tileRows * rb
            plain.copyMemory(from: tile, byteCount: Self.tileRows * rb)
            for r in 0..<Self.tileRows {
                for k in 0..<rb / 16 {
                    for j in 0..<16 { tile.storeBytes(of: plain.load(fromByteOffset: r * rb + k * 16 + j, as: UInt8.self), toByteOffset: Self.tileOffset(r, k, j), as: UInt8.self) }
                }
            }
        }
    }

    /// Where byte j of row r's 4-bit block k lives in its tile.
    @inline(__always) static func tileOffset(_ r: Int, _ k: Int, _ j: Int) -> Int { k &* 256 &+ 64 &* (j >> 2) &+ 4 &* r &+ j & 3 }

    /// Index of output o's group g in `scales` / `zeros`: [groups][16] per tile, [groups] per row after.
    @inline(__always) static func scaleIndex(_ o: Int, _ g: Int, groups: Int, tiles: Int) -> Int {
        o < tiles &* tileRows ? ((o >> 4) &* groups &+ g) &* tileRows &+ o & 15 : o &* groups &+ g
    }
    func scaleIndex(_ o: Int, _ g: Int) -> Int { Self.scaleIndex(o, g, groups: groups, tiles: tiles) }

    /// 32 codes from `row[from...]` into one block.
    static func pack(_ bits: Int, _ row: [UInt8], from k: Int, into dst: UnsafeMutableRawPointer) {
        let p = dst.assumingMemoryBound(to: UInt8.self)
        switch bits {
        case 4: for j in 0..<16 { p[j] = row[k + j] | row[k + j + 16] << 4 }
        case 8: for j in 0..<32 { p[j] = row[k + j] }
        default:
            for j in 0..<8 { p[j] = (0..<4).reduce(0) { $0 | (row[k + j + 8 * $1] & 3) << (2 * $1) } }
            if bits == 3 { for j in 0..<4 { p[8 + j] = (0..<8).reduce(0) { $0 | (row[k + 8 * j + $1] >> 2 & 1) << $1 } } }
        }
    }

    /// Code of output `o`, input `i` (for dequantizing and writing checkpoints).
    public func code(_ o: Int, _ i: Int) -> UInt8 {
        let k = Int(position[i]), b = k / 32, j = k % 32
        if o < tiles * Self.tileRows {
            let byte = (codes.base + (o / Self.tileRows) * Self.tileRows * rowBytes).load(fromByteOffset: Self.tileOffset(o % Self.tileRows, b, j % 16), as: UInt8.self)
            return j < 16 ? byte & 15 : byte >> 4
        }
        let blk = (codes.base + o * rowBytes + b * blockBytes).assumingMemoryBound(to: UInt8.self)
        switch bits {
        case 4: return j < 16 ? blk[j] & 15 : blk[j - 16] >> 4
        case 8: return blk[j]
        default:
            let low = blk[j % 8] >> (2 * (j / 8)) & 3
            return bits == 2 ? low : low | (blk[8 + j / 8] >> (j % 8) & 1) << 2
        }
    }

    /// The same codes with row `r` taken from row `order[r]` (with its scales and zero points).
    public func reorderingRows(_ order: [Int]) throws -> GroupQuantizedLinear {
        precondition(order.count == outFeatures)
        var s = [UInt16](repeating: 0, count: groups * outFeatures), z = [UInt8](repeating: 0, count: groups * outFeatures)
        for g in 0..<groups { for o in 0..<outFeatures { s[g * outFeatures + o] = scaleBits(order[o], g); z[g * outFeatures + o] = zero(order[o], g) } }
        return try GroupQuantizedLinear(out: outFeatures, in: inFeatures, bits: bits, groupSize: groupSize, format: format, gIdx: gIdx,
                                        scalesByGroup: s, zerosByGroup: z, code: { o, i in self.code(order[o], i) })
    }

    /// fp16 bits of the scale of output `o`, group `g`.
    public func scaleBits(_ o: Int, _ g: Int) -> UInt16 { scales[scaleIndex(o, g)] }
    public func zero(_ o: Int, _ g: Int) -> UInt8 { zeros[scaleIndex(o, g)] }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<inFeatures {
            let g = Int(gIdx[i])
            dst[i] = fp16Value(scaleBits(row, g)) * (Float(code(row, i)) - Float(zero(row, g)))
        }
    }

    /// Activations in slot order, quantized to q8 blocks, with the per-group sums Σ_b d_b·Σq.
    struct Prepared {
        var a: QuantizedActivations
        var gsum: [Float]      // rows × groups
    }

    func prepare(_ x: UnsafePointer<Float>, rows: Int, pool: ThreadPool?) -> Prepared {
        let slots = groups * blocksPerGroup * 32, n = inFeatures
        let a: QuantizedActivations
        if contiguous {
            a = QuantizedActivations.q8_0(x, rows: rows, n: slots, pool: pool)
        } else {
            var placed = [Float](repeating: 0, count: rows * slots)
            placed.withUnsafeMutableBufferPointer { p in
                for r in 0..<rows { for i in 0..<n { p[r * slots + Int(position[i])] = x[r * n + i] } }
            }
            a = placed.withUnsafeBufferPointer { QuantizedActivations.q8_0($0.baseAddress!, rows: rows, n: slots, pool: pool) }
        }
        var gsum = [Float](repeating: 0, count: rows * groups)
        let bpg = blocksPerGroup
        for r in 0..<rows {
            for g in 0..<groups {
                var s: Float = 0
                for b in 0..<bpg { let k = r * groups * bpg + g * bpg + b; s += a.d[k] * Float(a.sums[k]) }
                gsum[r * groups + g] = s
            }
        }
        return Prepared(a: a, gsum: gsum)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let p = prepare(x, rows: rows, pool: pool)
        let m = outFeatures, G = groups, bpg = blocksPerGroup, slots = G * bpg * 32, nb = G * bpg
        let base = codes.base, rb = rowBytes, bits = self.bits
        p.a.q.withUnsafeBufferPointer { qb in
            p.a.d.withUnsafeBufferPointer { db in
                p.gsum.withUnsafeBufferPointer { gb in
                    scales.withUnsafeBufferPointer { sb in
                        zeros.withUnsafeBufferPointer { zb in
                            let q = qb.baseAddress!, d = db.baseAddress!, gs = gb.baseAddress!
                            let s = sb.baseAddress!, z = zb.baseAddress!
                            // Tiles of 16 rows first (4-bit), then the rows after them one by one.
                            let tiled = self.tiles * Self.tileRows, tileBytes = Self.tileRows * rb
                            if self.tiles > 0 {
                                pool.parallelChunks(self.tiles, chunk: rows == 1 ? pool.evenChunk(self.tiles) : 2) { range, _ in
                                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * Self.tileRows) { buffer in
                                        let out = buffer.baseAddress!
                                        for t in range {
                                            let w = UnsafePointer(base.assumingMemoryBound(to: UInt8.self) + t &* tileBytes)
                                            let st = s + t &* G &* Self.tileRows, zt = z + t &* G &* Self.tileRows, o = t &* Self.tileRows
                                            var r = 0
                                            while r &+ 4 <= rows {
                                                gq_simd_q4x16_x4(w, q + r &* slots, d + r &* nb, gs + r &* G, st, zt, Int32(G), Int32(bpg), slots, out)
                                                for k in 0..<4 { (y + ((r &+ k) &* m &+ o)).update(from: out + k &* Self.tileRows, count: Self.tileRows) }
                                                r &+= 4
                                            }
                                            while r < rows {
                                                gq_simd_q4x16(w, q + r &* slots, d + r &* nb, gs + r &* G, st, zt, Int32(G), Int32(bpg), out)
                                                (y + (r &* m &+ o)).update(from: out, count: Self.tileRows)
                                                r &+= 1
                                            }
                                        }
                                    }
                                }
                            }
                            guard tiled < m else { return }
                            pool.parallelFor(m - tiled, granule: 4) { range in
                                for o in range.lowerBound + tiled ..< range.upperBound + tiled {
                                    let w = UnsafePointer(base.assumingMemoryBound(to: UInt8.self) + o * rb)
                                    let so = s + o * G, zo = z + o * G
                                    var r = 0
                                    if bits == 4 {
                                        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4) { out in
                                            while r + 4 <= rows {
                                                gq_simd_q4_x4(w, q + r * slots, d + r * nb, gs + r * G, so, zo, Int32(G), Int32(bpg), slots, out.baseAddress!)
                                                for k in 0..<4 { y[(r + k) * m + o] = out[k] }
                                                r += 4
                                            }
                                        }
                                    }
                                    while r < rows {
                                        y[r * m + o] = bits == 4
                                            ? gq_simd_q4(w, q + r * slots, d + r * nb, gs + r * G, so, zo, Int32(G), Int32(bpg))
                                            : gq_plain_qn(Int32(bits), w, q + r * slots, d + r * nb, gs + r * G, so, zo, Int32(G), Int32(bpg))
                                        r += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The plain version of `forward`, for tests: same activation quantization, one code at a time.
    func referenceForward(_ x: UnsafePointer<Float>, rows: Int) -> [Float] {
        let p = prepare(x, rows: rows, pool: nil)
        let m = outFeatures, G = groups, bpg = blocksPerGroup, slots = G * bpg * 32
        var y = [Float](repeating: 0, count: rows * m)
        var slotCode = [UInt8](repeating: 0, count: slots)
        for o in 0..<m {
            for k in 0..<slots { slotCode[k] = 0 }
            for i in 0..<inFeatures { slotCode[Int(position[i])] = code(o, i) }
            for r in 0..<rows {
                var acc: Float = 0
                for g in 0..<G {
                    var gacc: Float = 0
                    for b in 0..<bpg {
                        let k = g * bpg + b
                        var dot: Int32 = 0
                        for j in 0..<32 { dot += Int32(slotCode[k * 32 + j]) * Int32(p.a.q[r * slots + k * 32 + j]) }
                        gacc += p.a.d[r * G * bpg + k] * Float(dot)
                    }
                    let s = fp16Value(scaleBits(o, g))
                    acc += s * (gacc - Float(zero(o, g)) * p.gsum[r * G + g])
                }
                y[r * m + o] = acc
            }
        }
        return y
    }
}
