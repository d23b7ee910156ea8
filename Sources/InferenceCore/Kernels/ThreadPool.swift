// A persistent pool of worker threads for splitting kernels over output rows. Threads are made once
// per model (not per call): at batch 1 a GPT-2 token runs ~50 matrix-vector products, and spawning
// threads for each would cost more than the work. The caller's thread takes the first share.
import Foundation

public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    /// What the workers share with the pool. Workers hold it strongly (never the pool itself), so
    /// the pool can be released while they sleep: its deinit wakes them with `shutdown` set.
    private final class Shared: @unchecked Sendable {
        let wake: [DispatchSemaphore]
        let finished = DispatchSemaphore(value: 0)
        var job: ((Int) -> Void)?
        var shutdown = false
        init(workers: Int) { wake = (0..<workers).map { _ in DispatchSemaphore(value: 0) } }
    }
    private let shared: Shared

    public init(threads: Int) {
        threadCount = max(1, threads)
        let shared = Shared(workers: max(1, threads) - 1)
        self.shared = shared
        for w in 0..<shared.wake.count {
            let t = Thread {
                while true {
                    shared.wake[w].wait()
                    if shared.shutdown { return }
                    shared.job!(w + 1)
                    shared.finished.signal()
                }
            }
            t.name = "exprun-worker-\(w + 1)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit {
        shared.shutdown = true
        for s in shared.wake { s.signal() }
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
            shared.job = { i in let r = range(i); if !r.isEmpty { body(r) } }
            for i in 1..<parts { shared.wake[i - 1].signal() }
            let r0 = range(0)
            if !r0.isEmpty { body(r0) }
            for _ in 1..<parts { shared.finished.wait() }
            shared.job = nil
        }
    }
}
