// A persistent pool of worker threads for splitting kernels over output rows. Threads are made once
// per model (not per call): at batch 1 a GPT-2 token runs ~50 matrix-vector products, and spawning
// threads for each would cost more than the work. The caller's thread takes the first share.
import Foundation

public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    private var workers: [Thread] = []
    private let wake: [DispatchSemaphore]
    private let finished = DispatchSemaphore(value: 0)
    private var job: ((Int) -> Void)?
    private var shutdown = false

    public init(threads: Int) {
        threadCount = max(1, threads)
        wake = (1..<max(1, threads)).map { _ in DispatchSemaphore(value: 0) }
        for w in 0..<wake.count {
            let t = Thread { [unowned self] in self.workerLoop(index: w + 1) }
            t.name = "exprun-worker-\(w + 1)"
            t.stackSize = 1 << 20
            workers.append(t)
            t.start()
        }
    }

    deinit {
        shutdown = true
        for s in wake { s.signal() }
    }

    private func workerLoop(index: Int) {
        while true {
            wake[index - 1].wait()
            if shutdown { return }
            job!(index)
            finished.signal()
        }
    }

    /// Runs `body` over `0..<count` split into at most `threadCount` contiguous ranges, each a
    /// multiple of `granule` (except the last), and returns when all are done.
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
            job = { i in let r = range(i); if !r.isEmpty { body(r) } }
            for i in 1..<parts { wake[i - 1].signal() }
            let r0 = range(0)
            if !r0.isEmpty { body(r0) }
            for _ in 1..<parts { finished.wait() }
            job = nil
        }
    }
}
