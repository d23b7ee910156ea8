// The statistics a report's sentences rest on, checked against known distributions: the median's
// order-statistic interval has the binomial coverage it claims, the bootstrap interval of a ratio
// of medians covers the true ratio about as often as it says on simulated rounds of repeats (with
// load shared by a round, and without), and verdicts read intervals as the issue says.
import Foundation
import InferenceCore
import Testing
@testable import ExpRunKit

/// Normal deviates from a seeded generator (Box–Muller), so the simulations are the same every run.
struct Gaussian {
    var rng: SeededRandom
    init(seed: UInt64) { rng = SeededRandom(seed: seed) }
    mutating func next() -> Double {
        let u = Swift.max(rng.nextUnitDouble(), 1e-300), v = rng.nextUnitDouble()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

@Suite struct StatisticsTests {
    /// Exact binomial sums: [x(k), x(n+1-k)] misses the median when fewer than k values fall on one side.
    @Test func orderStatisticIntervalsHaveTheirBinomialLevels() {
        func binomialTail(_ n: Int, _ j: Int) -> Double {     // P(B ≤ j), B ~ Binomial(n, 1/2), by counting
            var c = 1.0, sum = 0.0
            for i in 0...j { if i > 0 { c = c * Double(n - i + 1) / Double(i) }; sum += c }
            return sum / pow(2, Double(n))
        }
        for n in 1...40 {
            let (k, level) = Statistics.orderStatistic(count: n)
            #expect(abs(level - (1 - 2 * binomialTail(n, k - 1))) < 1e-12)
            if n >= 6 {
                #expect(level >= 0.95)
                #expect(1 - 2 * binomialTail(n, k) < 0.95 || 2 * (k + 1) > n + 1)     // k is the largest that reaches 95%
            } else {
                #expect(k == 1 && level < 0.95)
            }
        }
        #expect(Statistics.orderStatistic(count: 5).level == 1 - 2.0 / 32)       // 93.75%: min–max of 5
        #expect(Statistics.orderStatistic(count: 9).k == 2)
        let s = Statistics([9, 1, 8, 2, 7, 3, 6, 4, 5])
        #expect(s.low == 2 && s.high == 8 && s.median == 5)
    }

    /// Over 3000 samples of 9 log-normal values, the interval holds the true median as often as its
    /// level says (96.1%), within four binomial standard errors.
    @Test func medianIntervalCoverageOnSimulatedData() {
        var g = Gaussian(seed: 11)
        let trials = 3000, trueMedian = 100.0
        var covered = 0
        for _ in 0..<trials {
            let s = Statistics((0..<9).map { _ in trueMedian * exp(0.2 * g.next()) })
            if s.low <= trueMedian && trueMedian <= s.high { covered += 1 }
        }
        let level = Statistics.orderStatistic(count: 9).level
        let rate = Double(covered) / Double(trials)
        #expect(abs(rate - level) < 4 * (level * (1 - level) / Double(trials)).squareRoot(), "coverage \(rate), claimed \(level)")
    }

    /// Two configurations measured in 3 rounds of 3 repeats; every round slows or speeds up both
    /// alike (paired) or each on its own (another experiment's rounds). True ratio of medians: 2.
    func coverage(pairedLoad: Bool, roundSD: Double, repeatSD: Double = 0.03, trials: Int, seed: UInt64) -> (rate: Double, width: Double) {
        var g = Gaussian(seed: seed)
        var covered = 0, widths: [Double] = []
        for _ in 0..<trials {
            var a: [RoundValue] = [], b: [RoundValue] = []
            for round in 0..<3 {
                let shared = roundSD * g.next()
                let own = pairedLoad ? shared : roundSD * g.next()
                for _ in 0..<3 {
                    a.append(RoundValue(2 * exp(own + repeatSD * g.next()), round: round))
                    b.append(RoundValue(exp(shared + repeatSD * g.next()), round: round))
                }
            }
            guard let r = RatioInterval.of(a, over: b, pairedByRound: pairedLoad) else { continue }
            if r.low <= 2 && 2 <= r.high { covered += 1 }
            widths.append(r.high / r.low)
        }
        return (Double(covered) / Double(trials), widths.sorted()[widths.count / 2])
    }

    @Test func ratioIntervalCoverageOnSimulatedRounds() {
        // Load shared by both configurations of a round, paired: at least nominal coverage.
        let paired = coverage(pairedLoad: true, roundSD: 0.05, trials: 400, seed: 1)
        #expect(paired.rate >= 0.93 && paired.rate <= 0.999, "paired coverage \(paired.rate)")
        // Runs of two experiments, whose rounds share nothing: the rounds' own load is in the
        // interval because rounds are drawn; 3 rounds make it somewhat short of nominal.
        let unpaired = coverage(pairedLoad: false, roundSD: 0.05, trials: 400, seed: 2)
        #expect(unpaired.rate >= 0.88, "unpaired coverage \(unpaired.rate)")
        // Pairing is what removes the shared load from the interval: much narrower than without it.
        let pairedNoisy = coverage(pairedLoad: true, roundSD: 0.10, trials: 100, seed: 3)
        let unpairedNoisy = coverage(pairedLoad: false, roundSD: 0.10, trials: 100, seed: 3)
        // (widths as high / low: on a log scale, unpaired over twice as wide)
        #expect(pairedNoisy.width < 1.15 && log(unpairedNoisy.width) > 2 * log(pairedNoisy.width),
                "median widths paired \(pairedNoisy.width), unpaired \(unpairedNoisy.width)")
        // A quiet machine (2% noise per repeat, nothing per round): within ±5%.
        let quiet = coverage(pairedLoad: true, roundSD: 0, repeatSD: 0.02, trials: 100, seed: 4)
        #expect(quiet.width < 1.10 && quiet.rate >= 0.9)
    }

    /// One value per round on each side, 3 rounds: the ratio of the ranges, which misses only when
    /// all three of one side lie beyond all three of the other (2 of the 20 orderings: 90%).
    @Test func aFewSingleValuesGiveTheRatioOfTheRanges() throws {
        let r = try #require(RatioInterval.of([10, 12, 11].enumerated().map { RoundValue($1, round: $0) },
                                              over: [4, 5, 6].enumerated().map { RoundValue($1, round: $0) }, pairedByRound: true))
        #expect(r.ratio == 11.0 / 5 && r.low == 10.0 / 6 && r.high == 12.0 / 4)
        var g = Gaussian(seed: 5)
        var covered = 0
        let trials = 4000
        for _ in 0..<trials {
            let a = (0..<3).map { RoundValue(2 * exp(0.1 * g.next()), round: $0) }, b = (0..<3).map { RoundValue(exp(0.1 * g.next()), round: $0) }
            if let r = RatioInterval.of(a, over: b, pairedByRound: false), r.low <= 2 && 2 <= r.high { covered += 1 }
        }
        let rate = Double(covered) / Double(trials)
        #expect(abs(rate - 0.9) < 4 * (0.9 * 0.1 / Double(trials)).squareRoot(), "coverage \(rate)")
    }

    @Test func theRatioIsOfMediansAndTheIntervalHoldsIt() throws {
        let a = [4.0, 5, 6, 100].enumerated().map { RoundValue($1, round: $0 % 2) }
        let b = [1.0, 2, 3].enumerated().map { RoundValue($1, round: $0 % 2) }
        let r = try #require(RatioInterval.of(a, over: b, pairedByRound: true))
        #expect(r.ratio == 5.5 / 2)
        #expect(r.low <= r.ratio && r.ratio <= r.high)
        // Identical values: a degenerate interval at the ratio.
        let same = try #require(RatioInterval.of([RoundValue(3, round: 0)], over: [RoundValue(3, round: 0)], pairedByRound: false))
        #expect(same.ratio == 1 && same.low == 1 && same.high == 1)
        #expect(RatioInterval.of([], over: b, pairedByRound: true) == nil)
        #expect(RatioInterval.of(a, over: [RoundValue(0, round: 0)], pairedByRound: true) == nil)
    }

    @Test func verdictsReadTheInterval() {
        func v(_ ratio: Double, _ low: Double, _ high: Double, _ sense: Verdict.Sense, noisy: Bool = false) -> Verdict {
            Verdict.of(RatioInterval(ratio: ratio, low: low, high: high), sense: sense, noisy: noisy)
        }
        #expect(v(4.9, 4.8, 5.0, .speed) == .faster)
        #expect(v(4.9, 4.8, 5.0, .duration) == .slower)
        #expect(v(0.5, 0.49, 0.51, .size) == .smaller)
        #expect(v(1.5, 1.45, 1.55, .size) == .larger)
        #expect(v(0.8, 0.78, 0.82, .speed) == .slower)
        #expect(v(1.01, 0.99, 1.03, .speed) == .same)                    // contains 1
        #expect(v(1.015, 1.01, 1.02, .speed) == .same)                   // excludes 1 but within the negligible 2%
        #expect(v(1.04, 1.03, 1.05, .speed) == .faster)                  // beyond it
        #expect(v(1.3, 1.02, 1.66, .speed) == .unstable)                 // wider than ±10%
        #expect(v(0.99, 0.85, 1.12, .speed) == .unstable)
        #expect(v(4.9, 4.8, 5.0, .speed, noisy: true) == .unstable)      // busy repeats had to stay in
        #expect(v(1, 1, 1, .size) == .same)
        #expect(Verdict.of(nil, sense: .speed) == .unstable)
    }
}
