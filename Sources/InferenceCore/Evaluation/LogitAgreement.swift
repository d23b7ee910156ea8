// How far a quantized model's next-token distributions move from a baseline's on the same tokens:
// KL divergence KL(P_base ‖ P) = Σ p_base · (log p_base − log p) per position (llama.cpp's
// `--kl-divergence` direction), and whether the most likely token is the same.
import Foundation

public struct LogitAgreement: Sendable, Codable, Equatable {
    public var positions: Int
    public var meanKL: Double
    public var p99KL: Double
    public var maxKL: Double
    /// Fraction of positions whose arg-max token is the same.
    public var topTokenAgreement: Double
    /// Per-position KL divergences, in order.
    public var kl: [Double]
    /// Per-position: the two arg-max tokens agree.
    public var sameTop: [Bool]
}

public enum LogitComparison {
    /// Compares two logit sets of `positions × vocab` values (row-major, same tokens).
    public static func compare(baseline: [Float], candidate: [Float], vocab: Int) throws -> LogitAgreement {
        guard vocab > 0, baseline.count % vocab == 0, !baseline.isEmpty else {
            throw CoreError.invalid("baseline logits (\(baseline.count) values) are not whole rows of \(vocab)")
        }
        guard candidate.count == baseline.count else {
            throw CoreError.invalid("candidate has \(candidate.count) logits, baseline \(baseline.count): they must cover the same positions")
        }
        let n = baseline.count / vocab
        var kl = [Double](repeating: 0, count: n), same = [Bool](repeating: false, count: n)
        baseline.withUnsafeBufferPointer { b in
            candidate.withUnsafeBufferPointer { c in
                for r in 0..<n {
                    let pb = b.baseAddress! + r * vocab, pc = c.baseAddress! + r * vocab
                    kl[r] = klDivergence(pb, pc, vocab: vocab)
                    same[r] = argmax(pb, vocab) == argmax(pc, vocab)
                }
            }
        }
        let sorted = kl.sorted()
        let p99 = sorted[min(n - 1, Int((Double(n - 1) * 0.99).rounded()))]
        return LogitAgreement(positions: n, meanKL: kl.reduce(0, +) / Double(n), p99KL: p99, maxKL: sorted[n - 1],
                              topTokenAgreement: Double(same.filter { $0 }.count) / Double(n), kl: kl, sameTop: same)
    }

    /// KL(softmax(base) ‖ softmax(other)) for one position, computed in double.
    public static func klDivergence(_ base: UnsafePointer<Float>, _ other: UnsafePointer<Float>, vocab: Int) -> Double {
        let lb = logSoftmax(base, vocab), lo = logSoftmax(other, vocab)
        var s = 0.0
        for i in 0..<vocab { s += Foundation.exp(lb[i]) * (lb[i] - lo[i]) }
        return max(0, s)
    }

    static func logSoftmax(_ x: UnsafePointer<Float>, _ n: Int) -> [Double] {
        var m = -Double.infinity
        for i in 0..<n { m = max(m, Double(x[i])) }
        var sum = 0.0
        for i in 0..<n { sum += Foundation.exp(Double(x[i]) - m) }
        let lse = m + Foundation.log(sum)
        return (0..<n).map { Double(x[$0]) - lse }
    }

    public static func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for i in 1..<max(n, 1) where x[i] > x[best] { best = i }
        return best
    }
}
