import Foundation
import Synchronization
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

    /// parallelChunks: every index once, in ranges of `chunk` from multiples of it, on threads
    /// the pool has.
    @Test(arguments: [1, 2, 3, 7])
    func chunksCoverEveryIndexOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [0, 1, 5, 64, 1001] {
            for chunk in [1, 4, 24] {
                var hits = [Int](repeating: 0, count: count)
                var badRanges = 0, badThreads = 0
                hits.withUnsafeMutableBufferPointer { h in
                    let p = h.baseAddress
                    let bad = Mutex((0, 0))
                    pool.parallelChunks(count, chunk: chunk) { r, thread in
                        for i in r { p![i] += 1 }
                        let wrong = r.lowerBound % chunk != 0 || (r.count != chunk && r.upperBound != count)
                        bad.withLock { $0.0 += wrong ? 1 : 0; $0.1 += (0..<threads).contains(thread) ? 0 : 1 }
                    }
                    (badRanges, badThreads) = bad.withLock { $0 }
                }
                #expect(hits.allSatisfy { $0 == 1 }, "count \(count), chunk \(chunk)")
                #expect(badRanges == 0 && badThreads == 0)
            }
        }
    }

    /// A thread held up on its first range (as a host may hold up a virtual CPU): the other thread
    /// takes every other range, where parallelFor's fixed split would leave it half of them and
    /// wait (then the held thread gives up after 10 s and the test fails).
    @Test func aHeldThreadsRangesGoToTheOther() {
        let pool = ThreadPool(threads: 2)
        let chunks = 8
        let done = Atomic<Int>(0), byCaller = Atomic<Int>(0), gaveUp = Atomic<Bool>(false)
        pool.parallelChunks(chunks, chunk: 1) { _, thread in
            if thread == 1 {
                let deadline = Date().addingTimeInterval(10)
                while done.load(ordering: .acquiring) < chunks - 1 {
                    if Date() > deadline { gaveUp.store(true, ordering: .relaxed); break }
                    usleep(100)
                }
            } else {
                byCaller.add(1, ordering: .relaxed)
            }
            done.add(1, ordering: .releasing)
        }
        let held = gaveUp.load(ordering: .relaxed), caller = byCaller.load(ordering: .relaxed)
        #expect(!held)
        #expect(caller >= chunks - 1)
    }

    /// evenChunk's ranges are parallelFor's.
    @Test(arguments: [1, 2, 3, 7])
    func evenChunksAreParallelForsSplit(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [1, 5, 64, 97, 1001] {
            for granule in [1, 2, 4] {
                let a = Mutex([Range<Int>]()), b = Mutex([Range<Int>]())
                pool.parallelFor(count, granule: granule) { r in a.withLock { $0.append(r) } }
                pool.parallelChunks(count, chunk: pool.evenChunk(count, granule: granule)) { r, _ in b.withLock { $0.append(r) } }
                let fixed = a.withLock { $0.sorted { $0.lowerBound < $1.lowerBound } }
                let claimed = b.withLock { $0.sorted { $0.lowerBound < $1.lowerBound } }
                #expect(fixed == claimed, "count \(count), granule \(granule)")
            }
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
