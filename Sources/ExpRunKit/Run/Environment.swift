// The machine and build a run happened on, stored with every run so a report can say "on what"
// and a comparison can tell two machines or two commits apart: CPU model and flags
// (/proc/cpuinfo), cores, memory, OS, exprun version and the git commit it was built from,
// the sha256 of the model files and of the experiment file, and the Slurm job and node when
// it runs in one.
import Foundation

public enum Environment {
    /// Everything but the model files, which the caller hashes once per model.
    public static func capture(version: String, experimentText: String) -> EnvironmentRecord {
        let cpu = cpuInfo()
        return EnvironmentRecord(
            cpuModel: cpu.model, cpuFlags: cpu.flags, cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: Int(clamping: ProcessInfo.processInfo.physicalMemory), os: osDescription(),
            hostname: ProcessInfo.processInfo.hostName, exprunVersion: version, gitCommit: gitCommit(),
            modelFiles: [:], experimentSHA256: SHA256.hex(experimentText),
            slurmJob: slurmJob(ProcessInfo.processInfo.environment), slurmNode: ProcessInfo.processInfo.environment["SLURMD_NODENAME"])
    }

    /// The job as Slurm's own tools name it: `ARRAY_TASK` for a task of a job array, else the job id.
    static func slurmJob(_ env: [String: String]) -> String? {
        if let array = env["SLURM_ARRAY_JOB_ID"], let task = env["SLURM_ARRAY_TASK_ID"] { return "\(array)_\(task)" }
        return env["SLURM_JOB_ID"]
    }

    static func cpuInfo() -> (model: String, flags: String) {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            return (sysctlString("machdep.cpu.brand_string") ?? "unknown", "")
        }
        var model = "unknown", flags = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "model name", model == "unknown" { model = parts[1] }
            if parts[0] == "flags" || parts[0] == "Features", flags.isEmpty { flags = parts[1] }
            if model != "unknown" && !flags.isEmpty { break }
        }
        return (model, flags)
    }

    static func sysctlString(_ name: String) -> String? {
        run("/usr/sbin/sysctl", ["-n", name])
    }

    static func osDescription() -> String {
        var name = ProcessInfo.processInfo.operatingSystemVersionString
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = release.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            name = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                + " (" + (run("/usr/bin/uname", ["-sr"]) ?? name) + ")"
        }
        return name
    }

    /// The commit of the source tree exprun was built from (`+dirty` when it had uncommitted
    /// changes to tracked files), recorded at build time by Plugins/BuildInfo; nil when built
    /// outside a git checkout.
    static func gitCommit() -> String? {
        BuildInfo.commit == "unknown" ? nil : BuildInfo.commit
    }

    static func run(_ executable: String, _ arguments: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
