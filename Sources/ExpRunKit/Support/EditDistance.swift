// Levenshtein distance, for "did you mean `repeats`?" suggestions on unknown keys and names.
import Foundation

enum EditDistance {
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The closest candidate, if it is close enough to be a plausible typo.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        var best: (name: String, cost: Int)?
        for candidate in candidates.sorted() {
            let cost = distance(word, candidate)
            if best == nil || cost < best!.cost { best = (candidate, cost) }
        }
        guard let best, best.cost <= max(2, word.count / 3) else { return nil }
        return best.name
    }
}
