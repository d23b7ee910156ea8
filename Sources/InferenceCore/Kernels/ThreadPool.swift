// A persistent pool of worker threads for splitting kernels over output rows. Threads are made once
// per model (not per call): at batch 1 a GPT-2 token runs ~75 matrix-vector products, and spawning
// threads for each would cost more than the work. The caller's thread takes the first share.
//
// Waking a sleeping thread through a semaphore costs ~5-20 µs, as much as a whole small product, so
// a worker that has just finished spins for a while (up to 1 ms) watching for the next job before it
// goes to sleep; decode issues its products nearly back to back and keeps the workers spinning,
// while an idle model's workers sleep and cost nothing. The gaps in decode (a short context's
// attention, which one thread does; sampling between tokens) passed 50 µs, the spin until
// 2026-12-01, about once a layer, and the caller then waited for a worker waking late. GPT-2 124M,
// bnb-nf4, 2 threads, 128 decoded tokens: `strace -f -c -e futex` counted 25 futex calls a token with
// 50 µs and 0.4 with 1 ms, and decode ran 1.046× faster with 1 ms (median of 10 alternating pairs,
// 8 faster; Zen 3).
import Foundation
import Synchronization

public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int

    /// What the workers share with the pool. Workers hold it strongly (never the pool itself), so
    /// the pool can be released while they sleep: its deinit wakes them with `shutdown` set.
    private final class Shared: @unchecked Sendable {
        static let spinning = 0, sleeping = 1
        let wake: [DispatchSemaphore]
        final class Worker: Sendable { let state = Atomic<Int>(Shared.spinning) }   // spinning or sleeping
        let workers: [Worker]
        let epoch = Atomic<Int>(0)         // bumped once per job
        let remaining = Atomic<Int>(0)     // worker shares of the current job not yet done
        var job: ((Int) -> Void)?
        let shutdown = Atomic<Bool>(false)
        init(workers: Int) {
            wake = (0..<workers).map { _ in DispatchSemaphore(value: 0) }
            self.workers = (0..<workers).map { _ in Worker() }
        }
    }
    private let shared: Shared

    /// How long an idle worker watches for the next job before sleeping.
    private static let spinNanoseconds: UInt64 = 1_000_000

    public init(threads: Int) {
        threadCount = max(1, threads)
        let shared = Shared(workers: max(1, threads) - 1)
        self.shared = shared
        for w in 0..<shared.wake.count {
            let t = Thread { ThreadPool.workerLoop(shared, index: w) }
            t.name = "exprun-worker-\(w + 1)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Workers asleep on their semaphore right now (tests wait for it to reach every worker).
    var sleepingWorkers: Int {
        shared.workers.filter { $0.state.load(ordering: .acquiring) == Shared.sleeping }.count
    }

    deinit {
        shared.shutdown.store(true, ordering: .releasing)
        for w in shared.wake.indices where shared.workers[w].state.exchange(Shared.spinning, ordering: .acquiringAndReleasing) == Shared.sleeping {
            shared.wake[w].signal()
        }
    }

    private static func workerLoop(_ s: Shared, index w: Int) {
        var seen = 0
        while true {
            // Spin for a while, then sleep until the caller wakes us.
            let start = DispatchTime.now().uptimeNanoseconds
            while s.epoch.load(ordering: .acquiring) == seen && !s.shutdown.load(ordering: .acquiring) {
                if DispatchTime.now().uptimeNanoseconds - start > spinNanoseconds {
                    if s.workers[w].state.compareExchange(expected: Shared.spinning, desired: Shared.sleeping, ordering: .acquiringAndReleasing).exchanged {
                        // A job published between our last look and going to sleep must not be
                        // missed: look again, and take the sleep back if it is there.
                        if s.epoch.load(ordering: .acquiring) != seen || s.shutdown.load(ordering: .acquiring) {
                            if !s.workers[w].state.compareExchange(expected: Shared.sleeping, desired: Shared.spinning, ordering: .acquiringAndReleasing).exchanged {
                                s.wake[w].wait()   // the caller already flipped us and signals: consume it
                            }
                        } else {
                            s.wake[w].wait()
                        }
                    }
                    break
                }
            }
            if s.shutdown.load(ordering: .acquiring) { return }
            let now = s.epoch.load(ordering: .acquiring)
            if now == seen { continue }
            seen = now
            s.job!(w + 1)
            s.remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Runs `body` over `0..<count` split into at most `threadCount` contiguous ranges, each a
    /// multiple of `granule` (except the last), and returns when all are done. One caller at a time:
    /// a pool belongs to one model, and concurrent calls from different threads are not supported.
    public func parallelFor(_ count: Int, granule: Int = 1, _ body: (Range<Int>) -> Void) {
        let units = (count + granule - 1) / granule
        let parts = min(threadCount, units)
        if parts <= 1 { if count > 0 { body(0..<count) }; return }
        withoutActuallyEscaping(body) { body in
            let share = (units + parts - 1) / parts
            let range: (Int) -> Range<Int> = { i in
                let lo = min(count, i * share * granule), hi = min(count, (i + 1) * share * granule)
                return lo..<hi
            }
            let s = shared
            // Every worker runs the job (those past `parts` get an empty range), so `remaining`
            // counts all of them and no worker can see a stale epoch on the next call.
            s.job = { i in let r = range(i); if !r.isEmpty { body(r) } }
            s.remaining.store(s.wake.count, ordering: .releasing)
            s.epoch.add(1, ordering: .releasing)
            for w in s.wake.indices where s.workers[w].state.exchange(Shared.spinning, ordering: .acquiringAndReleasing) == Shared.sleeping {
                s.wake[w].signal()
            }
            let r0 = range(0)
            if !r0.isEmpty { body(r0) }
            var spins = 0
            while s.remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 1000 { sched_yield() }
            }
            s.job = nil
        }
    }
}

extension ThreadPool {
    private final class Counter: Sendable { let next = Atomic<Int>(0) }

    /// The chunk that splits `count` into one range a thread (multiples of `granule`), as
    /// parallelFor does: for a decode step's products, too short for more claims to pay.
    public func evenChunk(_ count: Int, granule: Int = 1) -> Int {
        let units = (count + granule - 1) / granule
        return max(1, (units + threadCount - 1) / threadCount) * granule
    }

    /// Runs `body` over `0..<count` in ranges of `chunk` (the last may be shorter), each thread
    /// taking the next range from a shared counter until none is left; `body` gets the range and
    /// the thread's index (0..<threadCount, for scratch kept per thread). For a prompt's products:
    /// where the host slows one virtual CPU for a while, the other takes on more of the ranges
    /// instead of waiting for it at the end, as it must under parallelFor's fixed split.
    public func parallelChunks(_ count: Int, chunk: Int, _ body: (_ range: Range<Int>, _ thread: Int) -> Void) {
        let chunks = (count + chunk - 1) / chunk
        let range = { (c: Int) in c * chunk ..< min(count, (c + 1) * chunk) }
        if threadCount == 1 || chunks <= 1 { for c in 0..<chunks { body(range(c), 0) }; return }
        let counter = Counter()
        parallelFor(threadCount) { part in
            while true {
                let c = counter.next.add(1, ordering: .relaxed).oldValue
                if c >= chunks { return }
                body(range(c), part.lowerBound)
            }
        }
    }
}
