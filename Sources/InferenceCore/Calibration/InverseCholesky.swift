// The factor GPTQ works with: the upper Cholesky factor U of the inverse Hessian, H⁻¹ = UᵀU.
//
// The reference computes it in three steps (`cholesky(H)`, `cholesky_inverse`, `cholesky(·,
// upper=True)`, 4/3·n³ flops). The same U comes from two: factor H "from the bottom" as H = R·Rᵀ
// with R upper triangular (a plain Cholesky of H with rows and columns reversed), then U = R⁻¹,
// since (R⁻¹)ᵀR⁻¹ = (R·Rᵀ)⁻¹ = H⁻¹ and R⁻¹ is upper triangular with a positive diagonal (so it is
// the unique Cholesky factor). 2/3·n³ flops, in double: GPT-2's 3072-wide MLP projection makes
// this 19 Gflop per layer, so both steps run in 4×4 register tiles (`dot4x4`), and float64 keeps
// it from deciding a rounding tie the reference's float32 would not (a float64 rewrite of the reference reproduces its codes).
import Foundation

enum InverseCholesky {
    /// U (upper, row-major, F32) with H⁻¹ = UᵀU, or nil when H (n × n, symmetric; `h(i, j)` gives
    /// H[i][j] in double, for j ≤ i) is not positive definite. One n × n double array is all it
    /// holds: L in its lower triangle, then (L⁻¹)ᵀ written over its upper one, then U in F32 written
    /// over its front half and the back half given back (GPT-2's 3072-wide MLP projection: 72 MiB,
    /// never a 36 MiB F32 copy beside it).
    static func upperFactorOfInverse(n: Int, pool: ThreadPool, _ h: (Int, Int) -> Double) -> UpperFactor? {
        let count = n * n
        guard let raw = malloc(max(1, count * 8)) else { fatalError("out of memory for a \(n) × \(n) Cholesky factor") }
        // Reversed order: A[i][j] = H[n-1-i][n-1-j]. Its lower Cholesky factor L (A = L·Lᵀ) gives
        // R = J·L·J, and U = R⁻¹ = J·L⁻¹·J.
        let a = raw.bindMemory(to: Double.self, capacity: count)
        a.initialize(repeating: 0, count: count)
        for i in 0..<n { for j in 0...i { a[i * n + j] = h(n - 1 - i, n - 1 - j) } }
        guard choleskyLower(a, n: n, pool: pool) else { free(raw); return nil }
        invertLowerTransposed(a, n: n, pool: pool)     // upper triangle: Y = (L⁻¹)ᵀ
        // U[i][j] = L⁻¹[n-1-i][n-1-j] = Y[n-1-j][n-1-i] for j ≥ i: the reflection of Y's upper
        // triangle in the anti-diagonal, which maps that triangle onto itself (pairs swapped in
        // place); L below it is zeroed.
        for i in 0..<n {
            for j in 0..<i { a[i * n + j] = 0 }
            for j in i..<max(i, n - 1 - i) {
                let k = i * n + j, m = (n - 1 - j) * n + (n - 1 - i)
                let t = a[k]; a[k] = a[m]; a[m] = t
            }
        }
        // To F32 front to back: value k goes to bytes 4k..<4k+4, which hold only values ≤ k/2 (read).
        for k in 0..<count { raw.storeBytes(of: Float(raw.load(fromByteOffset: k * 8, as: Double.self)), toByteOffset: k * 4, as: Float.self) }
        let u = realloc(raw, max(1, count * 4)) ?? raw    // shrinking: the back half's pages go back
        return UpperFactor(n: n, values: u.bindMemory(to: Float.self, capacity: count))
    }

    static func upperFactorOfInverse(_ h: [Double], n: Int, pool: ThreadPool) -> [Float]? {
        upperFactorOfInverse(n: n, pool: pool) { h[$0 * n + $1] }.map { Array(UnsafeBufferPointer(start: $0.values, count: n * n)) }
    }

    /// U as `upperFactorOfInverse` leaves it: n × n F32, row-major, in memory from `malloc`.
    final class UpperFactor {
        let n: Int
        let values: UnsafeMutablePointer<Float>
        init(n: Int, values: UnsafeMutablePointer<Float>) { self.n = n; self.values = values }
        deinit { free(values) }
    }

    /// In-place lower Cholesky factor of the symmetric matrix whose lower triangle `a` holds (row-major);
    /// false when a pivot is not positive (not positive definite) or not finite.
    /// Row by row: L[i][j] = (A[i][j] − L[i][0..<j]·L[j][0..<j]) / L[j][j], in panels of 128 columns
    /// (right-looking): the panel's diagonal block on one thread, the rows below it (independent
    /// given the block) in parallel, then the panel's contribution to the trailing triangle,
    /// A[i][k] −= L[i][panel]·L[k][panel] for k ≤ i, in 4×4 tiles of register-held dot products
    /// (`dot4x4`: eight loads feed sixteen fused multiply-adds, so the update — n³/6 of the n³/6 + o(n³)
    /// work — runs at the FMA units' rate rather than at the loads').
    static func choleskyLower(_ l: UnsafeMutablePointer<Double>, n: Int, pool: ThreadPool) -> Bool {
        let panel = 128
        var p0 = 0
        while p0 < n {
            let p1 = min(n, p0 + panel)
            // The panel's own rows (diagonal block), left to right.
            for i in p0..<p1 {
                for j in p0...i {
                    let s = l[i * n + j] - dot(l + i * n + p0, l + j * n + p0, j - p0)
                    if i == j {
                        guard s > 0, s.isFinite else { return false }
                        l[i * n + i] = s.squareRoot()
                    } else {
                        l[i * n + j] = s / l[j * n + j]
                    }
                }
            }
            guard p1 < n else { break }
            // Rows below: first their columns p0..<p1 (each row reads only the panel), dealt
            // out in turn.
            let parts = pool.threadCount
            pool.parallelFor(parts) { range in
                for part in range {
                    for i in stride(from: p1 + part, to: n, by: parts) {
                        let li = l + i * n
                        for j in p0..<p1 { li[j] = (li[j] - dot(li + p0, l + j * n + p0, j - p0)) / l[j * n + j] }
                    }
                }
            }
            // Then the trailing triangle, in blocks of 16 rows (a 4-row tile of k is loaded
            // once for the block's four row tiles), blocks dealt out in turn: later rows cost more.
            let blocks = (n - p1 + 15) / 16
            pool.parallelFor(parts) { range in
                let t = UnsafeMutablePointer<Double>.allocate(capacity: 16)
                defer { t.deallocate() }
                for part in range {
                    for b in stride(from: part, to: blocks, by: parts) {
                        let r0 = p1 + 16 * b, r1 = min(n, r0 + 16)
                        var k0 = p1
                        while k0 < r1 {
                            let k1 = min(n, k0 + 4)
                            for i0 in stride(from: r0, to: r1, by: 4) where i0 + 3 >= k0 {
                                let i1 = min(r1, i0 + 4)
                                if i1 - i0 == 4 && k1 - k0 == 4 {
                                    dot4x4(l + i0 * n + p0, l + k0 * n + p0, n, p1 - p0, t)
                                    for r in 0..<4 { for c in 0..<4 where k0 + c <= i0 + r { l[(i0 + r) * n + k0 + c] -= t[r * 4 + c] } }
                                } else {
                                    for i in i0..<i1 { for k in k0..<min(k1, i + 1) { l[i * n + k] -= dot(l + i * n + p0, l + k * n + p0, p1 - p0) } }
                                }
                            }
                            k0 = k1
                        }
                    }
                }
            }
            p0 = p1
        }
        return true
    }

    /// (L⁻¹)ᵀ for lower-triangular L (row-major, in `a`'s lower triangle), written over `a`'s upper
    /// triangle and diagonal as Y with Y[j][i] = L⁻¹[i][j] (L's diagonal is kept aside; the rest of
    /// L stays below): L⁻¹[i][j] = −(L[i][j..<i] · L⁻¹[j..<i][j]) / L[i][i], where the column
    /// L⁻¹[j..<i][j] is the contiguous row Y[j][j..<i]. Columns of L⁻¹ are independent: they are
    /// taken 16 at a time (groups dealt out over the pool in turn; a group's cost grows with n − j),
    /// and within a group rows i four at a time: for a 4×4 tile of (i, j) the sums over k from the
    /// tile's fifth column of j to i0 are one `dot4x4`, the few terms before and after it in order.
    /// L's four rows are read once for the group's four tiles.
    static func invertLowerTransposed(_ a: UnsafeMutablePointer<Double>, n: Int, pool: ThreadPool) {
        let width = 16
        let groups = (n + width - 1) / width
        let diagonal = (0..<n).map { a[$0 * n + $0] }
        diagonal.withUnsafeBufferPointer { db in
            // L[i][k] for k < i and Y[j][i] for i ≥ j: disjoint, so the threads' writes to Y
            // never touch what the others read of L.
            let lp = UnsafePointer(a), yp = a, d = db.baseAddress!
            let parts = pool.threadCount
            pool.parallelFor(parts) { range in
                let t = UnsafeMutablePointer<Double>.allocate(capacity: 16)
                defer { t.deallocate() }
                for part in range {
                    for g in stride(from: part, to: groups, by: parts) {
                        let j0 = g * width, j1 = min(n, j0 + width)
                        for i0 in stride(from: j0, to: n, by: 4) {
                            let i1 = min(n, i0 + 4)
                            for jt in stride(from: j0, to: j1, by: 4) {
                                let jt1 = min(j1, jt + 4)
                                if i1 - i0 == 4 && jt1 - jt == 4 && jt1 <= i0 {
                                    dot4x4(lp + i0 * n + jt + 4, yp + jt * n + jt + 4, n, i0 - jt - 4, t)
                                    for r in 0..<4 {
                                        let i = i0 + r, li = lp + i * n
                                        for c in 0..<4 {
                                            let j = jt + c, yj = yp + j * n
                                            var s: Double = 0
                                            for k in j..<(jt + 4) { s += li[k] * yj[k] }
                                            s += t[r * 4 + c]
                                            for k in i0..<i { s += li[k] * yj[k] }
                                            yj[i] = -s / d[i]
                                        }
                                    }
                                } else {
                                    for i in i0..<i1 {
                                        for j in jt..<max(jt, min(jt1, i + 1)) {
                                            let yj = yp + j * n
                                            yj[i] = i == j ? 1 / d[j] : -dot(lp + i * n + j, yj + j, i - j) / d[i]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// t[r·4 + c] = a row r · b row c over `count` values, rows `ld` apart: sixteen accumulators in
    /// registers (the Double twin of `F32Linear.block4x4`).
    @inline(__always)
    static func dot4x4(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ ld: Int, _ count: Int, _ t: UnsafeMutablePointer<Double>) {
        typealias V = SIMD8<Double>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        @inline(__always) func load(_ p: UnsafeRawPointer, _ row: Int, _ i: Int) -> V {
            p.loadUnaligned(fromByteOffset: (row &* ld &+ i) &* 8, as: V.self)
        }
        var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()
        var i = 0
        while i &+ 8 <= count {
            let b0 = load(rb, 0, i), b1 = load(rb, 1, i), b2 = load(rb, 2, i), b3 = load(rb, 3, i)
            var x = load(ra, 0, i)
            a00.addProduct(x, b0); a01.addProduct(x, b1); a02.addProduct(x, b2); a03.addProduct(x, b3)
            x = load(ra, 1, i)
            a10.addProduct(x, b0); a11.addProduct(x, b1); a12.addProduct(x, b2); a13.addProduct(x, b3)
            x = load(ra, 2, i)
            a20.addProduct(x, b0); a21.addProduct(x, b1); a22.addProduct(x, b2); a23.addProduct(x, b3)
            x = load(ra, 3, i)
            a30.addProduct(x, b0); a31.addProduct(x, b1); a32.addProduct(x, b2); a33.addProduct(x, b3)
            i &+= 8
        }
        @inline(__always) func finish(_ acc: V, _ r: Int, _ c: Int) {
            let h = acc.lowHalf + acc.highHalf
            var s = (h[0] + h[1]) + (h[2] + h[3]), j = i
            while j < count { s += a[r &* ld &+ j] * b[c &* ld &+ j]; j &+= 1 }
            t[r &* 4 &+ c] = s
        }
        finish(a00, 0, 0); finish(a01, 0, 1); finish(a02, 0, 2); finish(a03, 0, 3)
        finish(a10, 1, 0); finish(a11, 1, 1); finish(a12, 1, 2); finish(a13, 1, 3)
        finish(a20, 2, 0); finish(a21, 2, 1); finish(a22, 2, 2); finish(a23, 2, 3)
        finish(a30, 3, 0); finish(a31, 3, 1); finish(a32, 3, 2); finish(a33, 3, 3)
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
        typealias V = SIMD8<Double>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var s0 = V(), s1 = V()
        var i = 0
        while i + 16 <= n {
            s0.addProduct(ra.loadUnaligned(fromByteOffset: i * 8, as: V.self), rb.loadUnaligned(fromByteOffset: i * 8, as: V.self))
            s1.addProduct(ra.loadUnaligned(fromByteOffset: i * 8 + 64, as: V.self), rb.loadUnaligned(fromByteOffset: i * 8 + 64, as: V.self))
            i += 16
        }
        while i + 8 <= n { s0.addProduct(ra.loadUnaligned(fromByteOffset: i * 8, as: V.self), rb.loadUnaligned(fromByteOffset: i * 8, as: V.self)); i += 8 }
        let v = s0 + s1
        let h = v.lowHalf + v.highHalf
        var s = (h[0] + h[1]) + (h[2] + h[3])
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}
