import Foundation
import Testing
@testable import InferenceCore

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 7])
    func coversEveryIndexOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [0, 1, 5, 64, 1001] {
            var hits = [Int](repeating: 0, count: count)
            hits.withUnsafeMutableBufferPointer { h in
                let p = h.baseAddress
                pool.parallelFor(count, granule: 4) { r in for i in r { p![i] += 1 } }
            }
            #expect(hits.allSatisfy { $0 == 1 })
        }
    }

    /// Jobs back to back (workers still spinning) and jobs to workers seen asleep (the test waits
    /// until every worker has gone to sleep, however long the machine takes), and pools released
    /// in either state: every index exactly once.
    @Test(arguments: [2, 3])
    func jobsArriveWhileWorkersSpinOrSleep(threads: Int) throws {
        for round in 0..<4 {
            let pool = ThreadPool(threads: threads)
            var hits = [Int](repeating: 0, count: 97)
            var asleep = 0
            for call in 0..<300 {
                if call % 50 == round {
                    #expect(waitUntilAsleep(pool, threads - 1))
                    asleep += 1
                }
                hits.withUnsafeMutableBufferPointer { h in
                    let p = h.baseAddress
                    pool.parallelFor(97) { r in for i in r { p![i] += 1 } }
                }
            }
            #expect(hits.allSatisfy { $0 == 300 })
            #expect(asleep == 6)
            if round % 2 == 1 { #expect(waitUntilAsleep(pool, threads - 1)) }   // release a sleeping pool, or a spinning one
        }
    }

    /// Waits (up to 10 s) until `workers` workers of `pool` sleep.
    private func waitUntilAsleep(_ pool: ThreadPool, _ workers: Int) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while pool.sleepingWorkers < workers && Date() < deadline { usleep(100) }
        return pool.sleepingWorkers == workers
    }

    @Test func f32LinearMatchesReference() {
        var g = SeededRandom(seed: 11)
        for (out, inF, rows) in [(5, 3, 1), (33, 70, 2), (64, 257, 3)] {
            let w = (0..<out * inF).map { _ in Float.random(in: -1...1, using: &g) }
            let x = (0..<rows * inF).map { _ in Float.random(in: -1...1, using: &g) }
            let lin = F32Linear(values: w, out: out, in: inF)
            var y = [Float](repeating: 0, count: rows * out)
            lin.forward(x, rows: rows, into: &y, pool: ThreadPool(threads: 2))
            for r in 0..<rows { for o in 0..<out {
                let ref = F32Linear.referenceDot(w.withUnsafeBufferPointer { $0.baseAddress! + o * inF },
                                                 x.withUnsafeBufferPointer { $0.baseAddress! + r * inF }, inF)
                #expect(abs(y[r * out + o] - ref) <= 1e-4 * max(1, abs(ref)))
            } }
        }
    }
}
