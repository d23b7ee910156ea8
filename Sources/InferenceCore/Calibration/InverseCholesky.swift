// The factor GPTQ works with: the upper Cholesky factor U of the inverse Hessian, H⁻¹ = UᵀU.
//
// The reference computes it in three steps (`cholesky(H)`, `cholesky_inverse`, `cholesky(·,
// upper=True)`, 4/3·n³ flops). The same U comes from two: factor H "from the bottom" as H = R·Rᵀ
// with R upper triangular (a plain Cholesky of H with rows and columns reversed), then U = R⁻¹,
// since (R⁻¹)ᵀR⁻¹ = (R·Rᵀ)⁻¹ = H⁻¹ and R⁻¹ is upper triangular with a positive diagonal (so it is
// the unique Cholesky factor). 2/3·n³ flops, in double: GPT-2's 3072-wide MLP projection makes
// this 19 Gflop per layer, and float64 keeps it from deciding a rounding tie the reference's
// float32 would not (a float64 rewrite of the reference reproduces its codes).
import Foundation

enum InverseCholesky {
    /// U (upper, row-major, F32) with H⁻¹ = UᵀU, or nil when H (n × n, symmetric; only the values
    /// are read, in double) is not positive definite.
    static func upperFactorOfInverse(_ h: [Double], n: Int, pool: ThreadPool) -> [Float]? {
        // Reversed order: A[i][j] = H[n-1-i][n-1-j]. Its lower Cholesky factor L (A = L·Lᵀ) gives
        // R = J·L·J, and U = R⁻¹ = J·L⁻¹·J.
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { a[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)] } }
        guard choleskyLower(&a, n: n, pool: pool) else { return nil }
        let inverse = inverseLowerTransposed(a, n: n, pool: pool)     // Y = (L⁻¹)ᵀ, upper
        // U[i][j] = L⁻¹[n-1-i][n-1-j] = Y[n-1-j][n-1-i] for j ≥ i.
        var u = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { u[i * n + j] = Float(inverse[(n - 1 - j) * n + (n - 1 - i)]) } }
        return u
    }

    /// In-place lower Cholesky factor of the symmetric matrix whose lower triangle `a` holds (row-major);
    /// false when a pivot is not positive (not positive definite) or not finite.
    /// Row by row: L[i][j] = (A[i][j] − L[i][0..<j]·L[j][0..<j]) / L[j][j]. The rows below a panel of 64
    /// are independent given the panel, so each panel is finished on one thread and the rows under it
    /// are brought up to date in parallel.
    static func choleskyLower(_ a: inout [Double], n: Int, pool: ThreadPool) -> Bool {
        let panel = 64
        var ok = true
        a.withUnsafeMutableBufferPointer { buf in
            let l = buf.baseAddress!
            var p0 = 0
            while p0 < n && ok {
                let p1 = min(n, p0 + panel)
                // The panel's own rows (diagonal block), left to right.
                for i in p0..<p1 {
                    for j in p0...i {
                        let s = l[i * n + j] - dot(l + i * n + p0, l + j * n + p0, j - p0)
                        if i == j {
                            guard s > 0, s.isFinite else { ok = false; return }
                            l[i * n + i] = s.squareRoot()
                        } else {
                            l[i * n + j] = s / l[j * n + j]
                        }
                    }
                }
                // Rows below: first their columns p0..<p1 (each row reads only the panel), then,
                // once all of those exist, the panel's contribution to their columns ≥ p1
                // (A[i][k] −= L[i][p0..<p1]·L[k][p0..<p1] for p1 ≤ k ≤ i). Rows are dealt out in
                // turn so that the threads share the triangle evenly.
                if p1 < n {
                    let parts = pool.threadCount
                    pool.parallelFor(parts) { range in
                        for part in range {
                            for i in stride(from: p1 + part, to: n, by: parts) {
                                let li = l + i * n
                                for j in p0..<p1 { li[j] = (li[j] - dot(li + p0, l + j * n + p0, j - p0)) / l[j * n + j] }
                            }
                        }
                    }
                    pool.parallelFor(parts) { range in
                        for part in range {
                            for i in stride(from: p1 + part, to: n, by: parts) {
                                let li = l + i * n
                                for k in p1...i { li[k] -= dot(li + p0, l + k * n + p0, p1 - p0) }
                            }
                        }
                    }
                }
                p0 = p1
            }
        }
        return ok
    }

    /// (L⁻¹)ᵀ for lower-triangular L (row-major), as an upper-triangular Y with Y[j][i] = L⁻¹[i][j]:
    /// L⁻¹[i][j] = −(L[i][j..<i] · L⁻¹[j..<i][j]) / L[i][i], where the column L⁻¹[j..<i][j] is the
    /// contiguous row Y[j][j..<i]. The rows i are filled in order; within one, the columns are independent.
    static func inverseLowerTransposed(_ l: [Double], n: Int, pool: ThreadPool) -> [Double] {
        var y = [Double](repeating: 0, count: n * n)
        l.withUnsafeBufferPointer { lb in
            y.withUnsafeMutableBufferPointer { yb in
                let lp = lb.baseAddress!, yp = yb.baseAddress!
                // Column j of L⁻¹ (row j of Y) depends only on column j: columns are independent,
                // so split them over the pool; column j costs ~(n-j)²/2, so interleave them.
                let parts = pool.threadCount
                pool.parallelFor(parts) { range in
                    for part in range {
                        var j = part
                        while j < n {
                            let yj = yp + j * n
                            yj[j] = 1 / lp[j * n + j]
                            for i in (j + 1)..<max(j + 1, n) {
                                let s = dot(lp + i * n + j, yj + j, i - j)
                                yj[i] = -s / lp[i * n + i]
                            }
                            j += parts
                        }
                    }
                }
            }
        }
        return y
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
