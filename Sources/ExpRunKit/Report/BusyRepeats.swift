// Which repeats ran while something else had the cores. A repeat knows its own CPU time, the
// whole machine's busy CPU time and the steal time over the same window (`CPUUsage`); busy minus
// own is what other processes used. Others do not compete as long as they fit on the cores the
// run left free (a 1-thread run on 2 cores beside one busy program is not slowed), so what counts
// is what they used beyond those, plus the steal time falling on the run's share of the cores,
// as a share of the CPU time the run asked for (threads × wall time). Above 10% the repeat is
// set aside: the summary uses the quiet repeats when at least half of them, and 3, are quiet,
// and the report says how many it set aside and why.
//
// A virtual machine can also give less without anyone using the CPU: the host places the virtual
// CPUs, and memory reads at two or three speeds from process to process (on this project's VM,
// 48 to 81 GB/s at 2 threads, each speed holding for seconds). A repeat knows the bandwidth the
// machine gave right before and right after it (`RepeatBandwidth`); one whose lower probe falls
// below `slowShare` of the best the experiment saw with the same probe (threads and matrices) is
// "slow" and set aside when at least 3 others remain and they are at least as many: a placement
// that held for most of a configuration's repeats is how the machine ran it. Keeping only the best
// placement whenever 3 repeats had it made two runs of one experiment disagree (the noise check,
// 2026-11-30 07:22: FP32 judged at 145 tok/s from 5 fast repeats of 15, 95 in the other runs).
// Compute-bound prefill suffers as well (the slow placement reads like two threads sharing one
// core: 2 threads read 48 GB/s where 1 thread reads 43): on the idle machine (benchmarks/
// bench-quant-20261130T0413Z.log, one process each) 2-thread prefill came out at 1420, 1372 and
// 750 tok/s for FP32 and 1026, 1897 and 1106 for FP16, as decode came out at 93, 126 and 92. So a
// slow repeat is set aside for every figure, prefill included.
import Foundation

public enum BusyRepeats {
    /// Share of the requested cores others may take before a repeat counts as busy.
    public static let threshold = 0.10

    /// Others' and the hypervisor's competing CPU time as a share of threads × wall time, nil when
    /// the repeat carries no machine figures. Below one tick per core plus one (what /proc/stat's
    /// 100 Hz accounting can miss at a window's two ends) it counts as nothing.
    public static func competition(_ r: RepeatRecord, threads: Int) -> Double? {
        guard let cpu = r.cpu, let busy = cpu.machineBusySeconds, let cpus = cpu.machineCPUs, r.totalSeconds > 0, threads > 0 else { return nil }
        let wall = r.totalSeconds
        let others = Swift.max(0, busy - cpu.ownSeconds)
        let free = Double(Swift.max(0, cpus - threads)) * wall
        let steal = Swift.max(0, cpu.stealSeconds ?? 0) * Double(Swift.min(threads, cpus)) / Double(cpus)
        let competing = Swift.max(0, others - free) + steal
        return competing <= 0.01 * Double(cpus + 1) ? 0 : competing / (Double(threads) * wall)
    }

    /// Why the repeat is set aside, in words; nil for a quiet one.
    public static func reason(_ r: RepeatRecord, threads: Int) -> String? {
        guard let share = competition(r, threads: threads), share > threshold, let cpu = r.cpu else { return nil }
        let others = Swift.max(0, (cpu.machineBusySeconds ?? 0) - cpu.ownSeconds) / r.totalSeconds
        let steal = (cpu.stealSeconds ?? 0) / r.totalSeconds
        var parts = [String(format: "other processes used %.2f of %d cores", others, cpu.machineCPUs ?? 0)]
        if steal >= 0.01 { parts.append(String(format: "the hypervisor took %.2f cores (steal)", steal)) }
        return parts.joined(separator: ", ") + String(format: ": %.0f%% of the %d core%@ the run asked for", share * 100, threads, threads == 1 ? "" : "s")
    }

    /// A repeat whose memory bandwidth fell below this share of the best is slow. Measured on this
    /// project's VM (scripts/read-bandwidth.c, 2 threads, consecutive processes, idle machine,
    /// 2026-11-30 05:10 UTC): within one placement of the virtual CPUs the probes agree within 3%
    /// (47.7/47.8, 49.8/50.0, 69.4/70.9 GB/s), and the placements lie 12% to 41% apart (80.9
    /// against 70.9, 60.6 and 47.7 GB/s). 90% keeps a repeat at the best placement with room for
    /// the probe's own spread, and sets aside the lower ones.
    public static let slowShare = 0.90

    /// Probes of fewer bytes than this read the cache (32 MiB: this project's machine's last-level
    /// cache), not memory: their figure follows CPU contention, which the CPU counters judge, and
    /// swings by more than 10% under load (the 2-repeat runs of the tiny test model all came out
    /// "slow"). They are shown, not judged.
    public static let cacheBytes = 32 << 20

    /// Why the repeat is slow, in words; nil when its bandwidth was near `best`, not probed, or
    /// probed in the cache.
    public static func slowReason(_ r: RepeatRecord, best: Double?) -> String? {
        guard let b = r.bandwidth, b.bytes > cacheBytes, let best, best > 0, b.low < slowShare * best else { return nil }
        return String(format: "the machine's memory bandwidth was %.0f GB/s during this repeat, %.0f%% below the %.0f GB/s it gave at best",
                      b.low, (1 - b.low / best) * 100, best)
            + others(r)

        func others(_ r: RepeatRecord) -> String {
            guard let cpu = r.cpu, let busy = cpu.machineBusySeconds, let cpus = cpu.machineCPUs, r.totalSeconds > 0 else { return "" }
            let used = (Swift.max(0, busy - cpu.ownSeconds) + Swift.max(0, cpu.stealSeconds ?? 0)) / r.totalSeconds
            return used < 0.05 * Double(cpus) ? ", with no other process busy: the host placed its virtual CPUs differently"
                : String(format: ", while other processes (or the hypervisor) used %.2f of %d cores", used, cpus)
        }
    }

    /// The repeats a summary uses and the set-aside ones with why: `busy` when others had the
    /// cores, `slow` when the memory bandwidth was low. `busyKept` / `slowKept` when too few
    /// remained, so that all had to stay in. Busy repeats kept make the figures noisy (verdicts say
    /// "unstable"); slow-memory repeats kept do not: when most repeats ran at the slower placement,
    /// that placement is how the machine runs, the intervals already carry the spread, and on this
    /// project's VM flagging them made every ratio of an idle run "unstable" (Gemma 3, 2026-11-30).
    public struct Split: Sendable {
        public var kept: [RepeatRecord]
        public var busy: [(RepeatRecord, String)]
        public var busyKept: Bool
        public var slow: [(RepeatRecord, String)] = []
        public var slowKept = false
        public var setAside: [(RepeatRecord, String)] { (busyKept ? [] : busy) + (slowKept ? [] : slow) }
        /// The figures include repeats that other processes slowed.
        public var noisy: Bool { busyKept }
    }

    /// `bestBandwidth`: the best the experiment's probes saw at this thread count
    /// (`BandwidthReference`); nil judges by these repeats' own best.
    public static func split(_ repeats: [RepeatRecord], threads: Int, bestBandwidth: Double? = nil) -> Split {
        let busy = repeats.compactMap { r in reason(r, threads: threads).map { (r, $0) } }
        let quiet = repeats.filter { r in !busy.contains { $0.0.index == r.index } }
        guard busy.isEmpty || quiet.count >= Swift.max(3, (repeats.count + 1) / 2) else {
            return Split(kept: repeats, busy: busy, busyKept: true)
        }
        let best = bestBandwidth ?? repeats.compactMap { $0.bandwidth.map { Swift.max($0.before, $0.after) } }.max()
        let slow = quiet.compactMap { r in slowReason(r, best: best).map { (r, $0) } }
        let fast = quiet.filter { r in !slow.contains { $0.0.index == r.index } }
        if slow.isEmpty || fast.count >= Swift.max(3, slow.count) { return Split(kept: fast, busy: busy, busyKept: false, slow: slow) }
        return Split(kept: quiet, busy: busy, busyKept: false, slow: slow, slowKept: true)
    }
}

/// The best memory bandwidth an experiment's probes saw, per thread count and probe: probes that
/// read different amounts are not compared, since a cache keeps part of a sweep that is larger
/// than itself (2 threads under load: GPT-2 124M's q4_0 matrices, 66 MiB, read at up to 73 GB/s where
/// FP32's 471 MiB never passed 35).
public struct BandwidthReference: Sendable {
    var best: [String: Double] = [:]

    static func key(threads: Int, bytes: Int) -> String { "\(threads)|\(bytes)" }

    public init(_ runs: [StoredRun]) {
        for r in runs where r.record.status == .ok {
            for b in r.record.repeats.compactMap(\.bandwidth) {
                let key = Self.key(threads: r.entry.threads, bytes: b.bytes)
                best[key] = Swift.max(best[key] ?? 0, b.before, b.after)
            }
        }
    }

    /// The best for `run`'s thread count and probe; nil when its repeats were not probed.
    public func best(for run: StoredRun) -> Double? {
        run.record.repeats.compactMap(\.bandwidth).first.flatMap { best[Self.key(threads: run.entry.threads, bytes: $0.bytes)] }
    }
}
