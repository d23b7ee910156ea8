// Choosing the next token from logits, in transformers' order: temperature, then top-k, then
// top-p (nucleus), then a draw from the softmax with a seeded generator. Temperature 0 is greedy
// (argmax, first index on ties, as torch.argmax).
import Foundation

public struct Sampler {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    private var rng: SeededRandom

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
        rng = SeededRandom(seed: seed)
    }

    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0, value = -Float.infinity
        for (i, x) in logits.enumerated() where x > value { best = i; value = x }
        return best
    }

    public mutating func next(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { next($0) }
    }

    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if temperature <= 0 || topK == 1 { return Self.argmax(logits) }
        // Candidates sorted by logit, best first; top-k cuts the list (ties with the k-th kept, as
        // transformers' `logits < kth_value` filter does).
        var order = Array(0..<logits.count)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if topK > 0 && topK < order.count {
            let kth = logits[order[topK - 1]]
            var keep = topK
            while keep < order.count && logits[order[keep]] == kth { keep += 1 }
            order.removeSubrange(keep...)
        }
        let m = logits[order[0]] / temperature
        var probs = order.map { Double(Foundation.exp(logits[$0] / temperature - m)) }
        var total = probs.reduce(0, +)
        if topP < 1 {
            // Keep the smallest prefix whose probability reaches top_p (at least one token).
            var cumulative = 0.0, keep = 0
            while keep < probs.count {
                cumulative += probs[keep] / total
                keep += 1
                if cumulative >= Double(topP) { break }
            }
            probs.removeSubrange(keep...)
            order.removeSubrange(keep...)
            total = probs.reduce(0, +)
        }
        var u = rng.nextUnitDouble() * total
        for (i, p) in probs.enumerated() {
            u -= p
            if u < 0 { return order[i] }
        }
        return order[probs.count - 1]
    }
}
