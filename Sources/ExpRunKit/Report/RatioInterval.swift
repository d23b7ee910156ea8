// How sure a ratio of two medians is, and what it lets a reader say. The interval comes from a
// two-stage bootstrap: draw the rounds with replacement, then within each drawn round its repeats
// with replacement, and take the ratio of the two medians; 2.5th and 97.5th percentiles of 2000
// such draws. Within an experiment both configurations ran in the same rounds, so they draw the
// same rounds ("paired by round"): a round that was slow for both moves both medians alike. Runs
// of different experiments share no rounds and draw theirs independently. Drawing the rounds is
// what makes the interval honest about load that changed from round to round; with a single
// round it is an ordinary bootstrap of the repeats.
//
// A bootstrap cannot see the spread of a handful of values: of 3 values, one per round (a load
// time or peak RSS per process, or 3 repeats in 3 rounds), it would cover about 75%. With one value
// per round and fewer than 6 on a side, the interval is instead the ratio of the ranges, lowest over
// highest to highest over lowest: the exact distribution-free interval at its widest (it misses
// only when every value of one side lies beyond every value of the other: 90% for 3 against 3,
// 97% for 4 against 4).
//
// The verdict reads the interval: "unstable" when it spans more than ±10% of the ratio (the
// measurements cannot settle it), "same" when it reaches within `negligible` of 1, otherwise the
// direction. Differences smaller than `negligible` are not reported as differences: two runs of
// the same experiment on the same machine differ by about that much from things the repeats
// cannot see (see the README's A/A figures).
import Foundation
import InferenceCore

/// One measured value and the round it was measured in.
public struct RoundValue: Sendable, Equatable {
    public var value: Double
    public var round: Int
    public init(_ value: Double, round: Int) { self.value = value; self.round = round }
}

public struct RatioInterval: Sendable, Equatable {
    /// median(a) / median(b).
    public var ratio: Double
    public var low: Double
    public var high: Double

    public static let resamples = 2000
    /// Above this relative half-width the interval is "unstable".
    public static let unstableWidth = 0.10

    /// The larger relative distance from the ratio to an end of its interval (0.1 is ±10%).
    public var halfWidth: Double { Swift.max(high / ratio - 1, 1 - low / ratio) }

    /// The ratio of medians of `a` over `b` with its 95% bootstrap interval; nil when a side has no
    /// finite value or b's median is 0.
    public static func of(_ a: [RoundValue], over b: [RoundValue], pairedByRound: Bool) -> RatioInterval? {
        let a = a.filter { $0.value.isFinite }, b = b.filter { $0.value.isFinite }
        let ma = median(a.map(\.value)), mb = median(b.map(\.value))
        guard !a.isEmpty, !b.isEmpty, mb != 0 else { return nil }
        let byRoundA = grouped(a), byRoundB = grouped(b)
        if byRoundA.values.allSatisfy({ $0.count == 1 }) && byRoundB.values.allSatisfy({ $0.count == 1 }) && Swift.min(a.count, b.count) < 6 {
            let va = a.map(\.value), vb = b.map(\.value)
            guard let lowB = vb.min(), lowB > 0, let highB = vb.max(), let lowA = va.min(), let highA = va.max() else { return nil }
            return RatioInterval(ratio: ma / mb, low: lowA / highB, high: highA / lowB)
        }
        let roundsA = byRoundA.keys.sorted(), roundsB = byRoundB.keys.sorted()
        let shared = Array(Set(roundsA).union(roundsB)).sorted()
        // Seeded: the same measurements always give the same interval.
        var rng = SeededRandom(seed: 0x5EED_0F_2A7105)
        var estimates: [Double] = []
        estimates.reserveCapacity(resamples)
        var pa: [Double] = [], pb: [Double] = []
        for _ in 0..<resamples {
            // A draw whose rounds hold nothing of one side (rounds where only one side has
            // repeats) is drawn again; a few tries, then left out.
            for _ in 0..<20 {
                pa.removeAll(keepingCapacity: true); pb.removeAll(keepingCapacity: true)
                if pairedByRound {
                    for _ in shared.indices {
                        let r = shared[Int.random(in: shared.indices, using: &rng)]
                        draw(byRoundA[r], into: &pa, &rng); draw(byRoundB[r], into: &pb, &rng)
                    }
                } else {
                    for _ in roundsA.indices { draw(byRoundA[roundsA[Int.random(in: roundsA.indices, using: &rng)]], into: &pa, &rng) }
                    for _ in roundsB.indices { draw(byRoundB[roundsB[Int.random(in: roundsB.indices, using: &rng)]], into: &pb, &rng) }
                }
                if !pa.isEmpty && !pb.isEmpty { break }
            }
            guard !pa.isEmpty, !pb.isEmpty else { continue }
            let d = median(pb)
            if d != 0 { estimates.append(median(pa) / d) }
        }
        estimates.sort()
        guard !estimates.isEmpty else { return nil }
        let ratio = ma / mb
        // The percentile interval always holds the estimate itself (it may not, for a skewed
        // bootstrap distribution of a handful of values).
        return RatioInterval(ratio: ratio, low: Swift.min(ratio, percentile(estimates, 0.025)),
                             high: Swift.max(ratio, percentile(estimates, 0.975)))
    }

    static func grouped(_ v: [RoundValue]) -> [Int: [Double]] {
        Dictionary(grouping: v, by: \.round).mapValues { $0.map(\.value) }
    }

    static func draw(_ values: [Double]?, into out: inout [Double], _ rng: inout SeededRandom) {
        guard let values, !values.isEmpty else { return }
        for _ in values.indices { out.append(values[Int.random(in: values.indices, using: &rng)]) }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let v = values.sorted()
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// Linear interpolation between the order statistics around `q` of sorted values.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let i = Int(position.rounded(.down)), j = Swift.min(i + 1, sorted.count - 1)
        return sorted[i] + (sorted[j] - sorted[i]) * (position - Double(i))
    }
}

/// What a ratio lets a reader say, for `exprun compare` and the report's "In short".
public enum Verdict: String, Sendable, Codable, CaseIterable {
    case faster, slower, smaller, larger, same, unstable

    /// Whether higher is better (tokens/s), lower is (seconds), or the figure is a size (bytes).
    public enum Sense: Sendable { case speed, duration, size }

    /// Differences within ±2% are not called differences.
    public static let negligible = 0.02

    /// The verdict on b relative to a from the interval of b/a. `noisy`: a side's figures had to
    /// include repeats during which the machine was busy, so no direction can be trusted.
    public static func of(_ r: RatioInterval?, sense: Sense, noisy: Bool = false) -> Verdict {
        guard let r else { return .unstable }
        if r.low == r.high && r.ratio == 1 { return .same }
        if noisy || r.halfWidth > RatioInterval.unstableWidth || !r.ratio.isFinite { return .unstable }
        if r.low <= 1 + negligible && r.high >= 1 - negligible { return .same }
        let up = r.low > 1
        switch sense {
        case .speed: return up ? .faster : .slower
        case .duration: return up ? .slower : .faster
        case .size: return up ? .larger : .smaller
        }
    }
}
