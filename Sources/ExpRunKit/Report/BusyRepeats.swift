// Which repeats ran while something else had the cores. A repeat knows its own CPU time, the
// whole machine's busy CPU time and the steal time over the same window (`CPUUsage`); busy minus
// own is what other processes used. Others do not compete as long as they fit on the cores the
// run left free (a 1-thread run on 2 cores beside one busy program is not slowed), so what counts
// is what they used beyond those, plus the steal time falling on the run's share of the cores,
// as a share of the CPU time the run asked for (threads × wall time). Above 10% the repeat is
// set aside: the summary uses the quiet repeats when at least half of them, and 3, are quiet,
// and the report says how many it set aside and why.
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

    /// The repeats a summary uses and the busy ones with why; `busyKept` when too few were quiet,
    /// so that all had to stay in (then nothing can be said with confidence, and verdicts say so).
    public struct Split: Sendable {
        public var kept: [RepeatRecord]
        public var busy: [(RepeatRecord, String)]
        public var busyKept: Bool
        public var setAside: [(RepeatRecord, String)] { busyKept ? [] : busy }
    }

    public static func split(_ repeats: [RepeatRecord], threads: Int) -> Split {
        let busy = repeats.compactMap { r in reason(r, threads: threads).map { (r, $0) } }
        let quiet = repeats.filter { r in !busy.contains { $0.0.index == r.index } }
        if busy.isEmpty || quiet.count >= Swift.max(3, (repeats.count + 1) / 2) {
            return Split(kept: quiet, busy: busy, busyKept: false)
        }
        return Split(kept: repeats, busy: busy, busyKept: true)
    }
}
