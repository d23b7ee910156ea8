// The Hessian of a linear layer's reconstruction error, as GPTQ (Frantar et al. 2022) defines it:
//
//   H = 2/N · Σ_t x_t x_tᵀ        x_t: one input row of the layer (a token), N: calibration samples
//
// N counts samples (sequences), not tokens, as the reference's `GPTQ.add_batch` counts
// `inp.shape[0]`: 16 sequences of 128 tokens give 2/16 · Σ over 2,048 rows. The scale does not change
// GPTQ's result (damping is relative to the mean diagonal), but it is the reference's H, which the
// oracles store.
//
// The sum is a symmetric rank-k update (XᵀX, upper triangle, mirrored on read): the input rows are
// transposed into columns of tokens, and each 4×4 tile of H is four rows of Xᵀ against four others,
// the F32 kernel's register-blocked dot products (`F32Linear.block4x4`). Rows of H go 16 at a time,
// so that a tile's right-hand rows are read from memory once for four tiles; the blocks are split
// over the pool in pairs (first with last) so that both threads get the same share of the triangle.
// A tile's sums do not depend on how tiles are grouped: H is bit for bit what 4-row panels gave.
import Foundation

public final class HessianAccumulator: @unchecked Sendable {
    public let columns: Int
    /// Samples (sequences) added so far: N of 2/N.
    public private(set) var samples = 0
    /// Tokens (rows) added so far.
    public private(set) var rows = 0
    /// Σ x xᵀ, upper triangle (row i, columns ≥ i) valid; accumulated in F32 as the reference does.
    private var sum: [Float]
    /// Tokens transposed per pass (a 512-token sample at once, as the reference adds a batch): long
    /// enough that a tile's horizontal sums are a small part of its work.
    static let slice = 512

    public init(columns: Int) {
        self.columns = columns
        sum = [Float](repeating: 0, count: columns * columns)
    }

    /// Adds `count` input rows (`count × columns`, row-major) that make up `samples` samples.
    public func add(_ x: UnsafePointer<Float>, rows count: Int, samples: Int = 1, pool: ThreadPool) {
        self.samples += samples
        rows += count
        let n = columns
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: n * Self.slice)
        defer { xt.deallocate() }
        var t0 = 0
        while t0 < count {
            let m = min(Self.slice, count - t0)
            // Xᵀ of this slice: row i holds column i of the m tokens.
            for t in 0..<m {
                let xr = x + (t0 + t) * n
                for i in 0..<n { xt[i * m + t] = xr[i] }
            }
            sum.withUnsafeMutableBufferPointer { s in
                let h = s.baseAddress!
                // Job p takes row block p and its mirror blocks − 1 − p: equal shares of the triangle.
                let blocks = (n + Self.rowBlock - 1) / Self.rowBlock
                pool.parallelFor((blocks + 1) / 2) { jobs in
                    let tile = UnsafeMutablePointer<Float>.allocate(capacity: 16)
                    defer { tile.deallocate() }
                    for p in jobs {
                        Self.rows(p, xt, m: m, n: n, into: h, tile: tile)
                        if blocks - 1 - p != p { Self.rows(blocks - 1 - p, xt, m: m, n: n, into: h, tile: tile) }
                    }
                }
            }
            t0 += m
        }
    }

    /// Rows of H taken together: each 4-row tile of Xᵀ on the right is loaded once for all of them.
    static let rowBlock = 16

    /// Rows rowBlock·block ..< +rowBlock of the upper triangle: += Xᵀ rows · Xᵀ rows, in 4×4 tiles
    /// on the diagonal and right of it.
    private static func rows(_ block: Int, _ xt: UnsafePointer<Float>, m: Int, n: Int,
                             into h: UnsafeMutablePointer<Float>, tile t: UnsafeMutablePointer<Float>) {
        let r0 = rowBlock * block, r1 = min(n, r0 + rowBlock)
        var j0 = r0
        while j0 < n {
            let j1 = min(n, j0 + 4)
            for i0 in stride(from: r0, to: r1, by: 4) where i0 <= j0 {
                let i1 = min(r1, i0 + 4)
                if i1 - i0 == 4 && j1 - j0 == 4 {
                    // t[r·4 + o] = dot(xt row j0+o, xt row i0+r)
                    F32Linear.block4x4(xt + j0 * m, xt + i0 * m, m, t, 4)
                    for r in 0..<4 { for o in 0..<4 { h[(i0 + r) * n + j0 + o] += t[r * 4 + o] } }
                } else {
                    for i in i0..<i1 { for j in j0..<j1 { h[i * n + j] += F32Linear.dot(xt + i * m, xt + j * m, m) } }
                }
            }
            j0 = j1
        }
    }

    /// H = 2/N · Σ x xᵀ, full `[columns, columns]` row-major, made in the accumulator's own storage
    /// (the largest Hessian is not held twice): the accumulator is spent.
    public func hessian() -> [Float] {
        precondition(sum.count == columns * columns, "HessianAccumulator.hessian() is called once")
        let n = columns, scale = 2 / Float(max(samples, 1))
        sum.withUnsafeMutableBufferPointer { s in
            let h = s.baseAddress!
            for i in 0..<n {
                for j in i..<n {
                    let v = h[i * n + j] * scale
                    h[i * n + j] = v; h[j * n + i] = v
                }
            }
        }
        defer { sum = [] }
        return sum
    }
}
