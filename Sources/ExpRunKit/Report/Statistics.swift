// Summaries of repeated measurements: median (what tables show) with its confidence interval,
// min and max, mean and sample standard deviation.
//
// The interval of the median is the exact distribution-free one from order statistics: among n
// independent repeats, the number below the true median is Binomial(n, 1/2), so [x(k), x(n+1-k)]
// covers it with probability 1 − 2·P(B ≤ k−1), whatever the distribution. Below 6 repeats no pair
// of order statistics reaches 95%; the interval is then min–max and `level` says what it is worth
// (5 repeats: 93.8%, 3: 75%).
import Foundation

public struct Statistics: Sendable, Equatable {
    public var count: Int
    public var median: Double
    public var min: Double
    public var max: Double
    public var mean: Double
    public var stddev: Double
    /// Confidence interval of the median: 95% where the repeats allow it, else min–max.
    public var low: Double
    public var high: Double
    /// The interval's confidence (0.95 when there are 6 repeats or more).
    public var level: Double

    public static let confidence = 0.95

    public init(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        count = v.count
        guard let first = v.first, let last = v.last else {
            median = .nan; min = .nan; max = .nan; mean = .nan; stddev = .nan; low = .nan; high = .nan; level = 0; return
        }
        min = first; max = last
        median = v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        mean = v.reduce(0, +) / Double(v.count)
        let m = mean
        stddev = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
        let (k, level) = Self.orderStatistic(count: v.count)
        low = v[k - 1]; high = v[v.count - k]; self.level = level
    }

    /// What the whiskers of a chart drawn from these summaries' intervals are.
    static func whiskers(_ all: [Statistics]) -> String {
        let exact = all.filter { $0.count > 0 }.map { $0.level >= confidence }
        if exact.allSatisfy({ $0 }) { return "95% CI" }
        return exact.contains(true) ? "95% CI, min–max under 6 repeats" : "min–max"
    }

    /// max − min.
    public var spread: Double { max - min }

    /// The 1-based rank k of the interval [x(k), x(n+1-k)] of the median, the largest whose
    /// coverage is at least 95% (k = 1 when even min–max falls short), and that coverage.
    static func orderStatistic(count n: Int) -> (k: Int, level: Double) {
        guard n > 0 else { return (1, 0) }
        // P(B ≤ j) for B ~ Binomial(n, 1/2), term by term in logs (n can be thousands).
        let logHalf = Double(n) * log(0.5)
        var cdf = 0.0, best = (k: 1, level: 1 - 2 * exp(logHalf))
        for j in 0..<((n + 1) / 2) {
            cdf += exp(lgamma(Double(n + 1)) - lgamma(Double(j + 1)) - lgamma(Double(n - j + 1)) + logHalf)
            let level = 1 - 2 * cdf          // coverage of [x(j+1), x(n-j)]
            guard level >= confidence, 2 * (j + 1) <= n + 1 else { break }
            best = (j + 1, level)
        }
        return best
    }
}
