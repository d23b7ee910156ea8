// Who had the CPU during a repeat. Three clocks read before and after: this process's own CPU
// time, the machine's busy CPU time (/proc/stat, every process) and the steal time (a virtual
// machine's hypervisor running someone else on our cores), over the cores this process may run on
// (all of them, unless taskset, a cpuset or a Slurm job confines it). Busy minus own is what other
// processes took meanwhile; `BusyRepeats` judges from that whether a repeat competed for the cores
// it asked for.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one repeat's window cost: the process's CPU seconds (all its threads), the machine's busy
/// CPU seconds over the cores the process may use (steal not included), steal seconds, and how
/// many cores those are.
public struct CPUUsage: Sendable, Codable, Equatable {
    public var ownSeconds: Double
    public var machineBusySeconds: Double?
    public var stealSeconds: Double?
    public var machineCPUs: Int?
    public init(ownSeconds: Double, machineBusySeconds: Double?, stealSeconds: Double?, machineCPUs: Int?) {
        self.ownSeconds = ownSeconds; self.machineBusySeconds = machineBusySeconds
        self.stealSeconds = stealSeconds; self.machineCPUs = machineCPUs
    }
}

public enum CPUProbe {
    public struct Sample: Sendable {
        var own: Double
        var machine: MachineTimes?
    }

    /// /proc/stat's first line, in seconds summed over all cores.
    struct MachineTimes: Sendable, Equatable {
        var busy: Double
        var steal: Double
        var cpus: Int
    }

    public static func sample() -> Sample { Sample(own: processCPUSeconds(), machine: machineTimes()) }

    public static func usage(from a: Sample, to b: Sample) -> CPUUsage {
        CPUUsage(ownSeconds: b.own - a.own,
                 machineBusySeconds: a.machine.flatMap { ma in b.machine.map { $0.busy - ma.busy } },
                 stealSeconds: a.machine.flatMap { ma in b.machine.map { $0.steal - ma.steal } },
                 machineCPUs: b.machine?.cpus)
    }

    /// User + system time of every thread of this process. The process CPU clock is exact, where
    /// /proc/self/stat counts whole 10 ms ticks: too coarse for a repeat of a tenth of a second.
    static func processCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func machineTimes() -> MachineTimes? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        return parseStat(text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), allowed: status.flatMap(allowedCPUs))
        #else
        return nil
        #endif
    }

    /// `cpuN user nice system idle iowait irq softirq steal guest guest_nice` (ticks), summed over
    /// the `allowed` cores (all when nil, or when none of them is listed). Busy is everything but
    /// idle, iowait and steal; guest time is already inside user and nice.
    static func parseStat(_ text: String, ticksPerSecond: Double, allowed: Set<Int>? = nil) -> MachineTimes? {
        var total: [Double]?, chosen = [Double](repeating: 0, count: 8)
        var cpus = 0, counted = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let name = fields.first, name.hasPrefix("cpu") else { continue }
            let times = fields.dropFirst().compactMap { Double($0) }
            guard times.count >= 8 else { continue }
            if name == "cpu" { total = times; continue }
            cpus += 1
            if let n = Int(name.dropFirst(3)), allowed?.contains(n) ?? true {
                counted += 1
                for i in 0..<8 { chosen[i] += times[i] }
            }
        }
        guard ticksPerSecond > 0, let t = counted > 0 ? chosen : total else { return nil }
        let busy = t[0] + t[1] + t[2] + t[5] + t[6]
        return MachineTimes(busy: busy / ticksPerSecond, steal: t[7] / ticksPerSecond, cpus: max(counted > 0 ? counted : cpus, 1))
    }

    /// The cores this process may run on, from /proc/self/status's `Cpus_allowed_list:	0-3,8`.
    static func allowedCPUs(_ status: String) -> Set<Int>? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        var cpus = Set<Int>()
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
            guard let first = bounds.first, let last = bounds.last, first <= last else { return nil }
            cpus.formUnion(first...last)
        }
        return cpus.isEmpty ? nil : cpus
    }
}
