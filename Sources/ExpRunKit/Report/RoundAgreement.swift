// Whether a configuration's rounds agree. Each round is a fresh process, and on a virtual machine a
// process can get a different machine from the last (the host places its virtual CPUs: decode at
// 91 tok/s in one process and 147 in the next, no other process running). Within a process the
// speed holds, so the repeats of one round agree with each other and not with the next round's.
// Two rounds disagree when the gap between their ranges of values is wider than either range and
// more than `negligible` of the value: for repeats that only scatter around one speed such a gap is
// rare (it needs every value of one round beyond every value of the other, by more than their own
// spread), for two machine states it is the rule. Rounds of a single repeat have no spread of their
// own to compare with and are not judged.
import Foundation

public enum RoundAgreement {
    /// Gaps smaller than this share of the value are not called disagreement.
    public static let negligible = 0.03

    /// Each round's values, in round order, when at least two rounds of two or more values
    /// disagree; nil when they agree (or cannot be judged).
    public static func disagreement(_ values: [RoundValue]) -> [(round: Int, low: Double, high: Double, median: Double)]? {
        let rounds = Dictionary(grouping: values.filter { $0.value.isFinite }, by: \.round)
            .filter { $0.value.count >= 2 }
            .map { (round: $0.key, low: $0.value.map(\.value).min()!, high: $0.value.map(\.value).max()!,
                    median: RatioInterval.median($0.value.map(\.value))) }
            .sorted { $0.round < $1.round }
        for (i, a) in rounds.enumerated() {
            for b in rounds[(i + 1)...] {
                let gap = Swift.max(a.low - b.high, b.low - a.high)
                let spread = Swift.max(a.high - a.low, b.high - b.low)
                if gap > spread && gap > negligible * Swift.min(a.median, b.median) { return rounds }
            }
        }
        return nil
    }
}
