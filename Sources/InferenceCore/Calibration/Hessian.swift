// The Hessian of a linear layer's reconstruction error, as GPTQ (Frantar et al. 2022) defines it:
//
//   H = 2/N · Σ_t x_t x_tᵀ        x_t: one input row of the layer (a token), N: calibration samples
//
// N counts samples (sequences), not tokens, as the reference's `GPTQ.add_batch` counts
// `inp.shape[0]`: 16 sequences of 128 tokens give 2/16 · Σ over 2,048 rows. The scale does not change
// GPTQ's result (damping is relative to the mean diagonal), but it is the reference's H, which the
// oracles store.
//
// The sum is a symmetric rank-k update (XᵀX, upper triangle, mirrored when H is taken), made
// straight from the rows as they come, as outer products: a 4 × 64 tile of H holds sixteen
// vector accumulators, and each token adds x[i]·x[j..<j+64] for its four rows i (four vector loads
// and four broadcasts feed sixteen fused multiply-adds; no transpose, no horizontal sums). A
// sample's tokens are summed in registers, then added to H in F32, as the reference adds each
// batch's product. Panels of 64 columns are split over the pool in pairs (first with last: the
// triangle above panel p grows with p) so that both threads get the same share.
import Foundation

public final class HessianAccumulator: @unchecked Sendable {
    public let columns: Int
    /// Samples (sequences) added so far: N of 2/N.
    public private(set) var samples = 0
    /// Tokens (rows) added so far.
    public private(set) var rows = 0
    /// Σ x xᵀ, upper triangle (row i, columns ≥ i) valid; accumulated in F32 as the reference does.
    private var sum: [Float]
    public init(columns: Int) {
        self.columns = columns
        sum = [Float](repeating: 0, count: columns * columns)
    }

    /// Adds `count` input rows (`count × columns`, row-major) that make up `samples` samples.
    public func add(_ x: UnsafePointer<Float>, rows count: Int, samples: Int = 1, pool: ThreadPool) {
        self.samples += samples
        rows += count
        let n = columns, panels = (n + Self.panel - 1) / Self.panel
        sum.withUnsafeMutableBufferPointer { s in
            let h = s.baseAddress!
            pool.parallelFor((panels + 1) / 2) { jobs in
                for p in jobs {
                    Self.columnPanel(p, x, tokens: count, n: n, into: h)
                    if panels - 1 - p != p { Self.columnPanel(panels - 1 - p, x, tokens: count, n: n, into: h) }
                }
            }
        }
    }

    /// Columns of H per tile (four 16-float vectors).
    static let panel = 64

    /// Columns panel·64 ..< +64 of H, in every row up to the panel's last column (the tile on the
    /// diagonal also fills a few values below it, which are never read).
    private static func columnPanel(_ p: Int, _ x: UnsafePointer<Float>, tokens: Int, n: Int, into h: UnsafeMutablePointer<Float>) {
        let j0 = p * panel, j1 = min(n, j0 + panel)
        var i0 = 0
        while i0 < j1 {
            let i1 = min(i0 + 4, j1)
            if i1 - i0 == 4 && j1 - j0 == panel {
                tile(x + i0, x + j0, tokens: tokens, n: n, into: h + i0 * n + j0)
            } else {
                for i in i0..<i1 {
                    for j in max(j0, i)..<j1 {
                        var s: Float = 0
                        for t in 0..<tokens { s = s.addingProduct(x[t * n + i], x[t * n + j]) }
                        h[i * n + j] += s
                    }
                }
            }
            i0 = i1
        }
    }

    /// h[r·n + c] += Σ_t xi[t·n + r] · xj[t·n + c] for r < 4, c < 64.
    @inline(__always)
    private static func tile(_ xi: UnsafePointer<Float>, _ xj: UnsafePointer<Float>, tokens: Int, n: Int,
                             into h: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()
        var t = 0
        while t < tokens {
            let rj = UnsafeRawPointer(xj + t &* n), pi = xi + t &* n
            let v0 = rj.loadUnaligned(as: V.self), v1 = rj.loadUnaligned(fromByteOffset: 64, as: V.self)
            let v2 = rj.loadUnaligned(fromByteOffset: 128, as: V.self), v3 = rj.loadUnaligned(fromByteOffset: 192, as: V.self)
            var b = V(repeating: pi[0])
            a00.addProduct(b, v0); a01.addProduct(b, v1); a02.addProduct(b, v2); a03.addProduct(b, v3)
            b = V(repeating: pi[1])
            a10.addProduct(b, v0); a11.addProduct(b, v1); a12.addProduct(b, v2); a13.addProduct(b, v3)
            b = V(repeating: pi[2])
            a20.addProduct(b, v0); a21.addProduct(b, v1); a22.addProduct(b, v2); a23.addProduct(b, v3)
            b = V(repeating: pi[3])
            a30.addProduct(b, v0); a31.addProduct(b, v1); a32.addProduct(b, v2); a33.addProduct(b, v3)
            t &+= 1
        }
        @inline(__always) func add(_ acc: V, _ r: Int, _ c: Int) {
            let offset: Int = r &* n &+ c &* 16
            let p = UnsafeMutableRawPointer(h + offset)
            let sum: V = p.loadUnaligned(as: V.self) + acc
            p.storeBytes(of: sum, as: V.self)
        }
        add(a00, 0, 0); add(a01, 0, 1); add(a02, 0, 2); add(a03, 0, 3)
        add(a10, 1, 0); add(a11, 1, 1); add(a12, 1, 2); add(a13, 1, 3)
        add(a20, 2, 0); add(a21, 2, 1); add(a22, 2, 2); add(a23, 2, 3)
        add(a30, 3, 0); add(a31, 3, 1); add(a32, 3, 2); add(a33, 3, 3)
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
