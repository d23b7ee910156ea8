// Summaries of repeated measurements: median (what tables show), min and max (the spread), and
// the sample standard deviation.
import Foundation

public struct Statistics: Sendable, Equatable {
    public var count: Int
    public var median: Double
    public var min: Double
    public var max: Double
    public var mean: Double
    public var stddev: Double

    public init(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        count = v.count
        guard let first = v.first, let last = v.last else {
            median = .nan; min = .nan; max = .nan; mean = .nan; stddev = .nan; return
        }
        min = first; max = last
        median = v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        mean = v.reduce(0, +) / Double(v.count)
        let m = mean
        stddev = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
    }

    /// max − min: the spread the tables and comparisons use.
    public var spread: Double { max - min }
}
