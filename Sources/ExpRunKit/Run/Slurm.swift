// Slurm as exprun talks to it: its own command-line tools found on PATH (`sbatch` to submit,
// `scontrol` for the controller's view of jobs, `scancel`), never a library, so exprun works with
// whatever Slurm the cluster runs. `sacct` is not used: it needs the accounting daemon, which many
// clusters (and the one-node test cluster) do not run; `scontrol show job -o` keeps finished jobs
// for MinJobAge (300 s by default), long enough for the merge job and `exprun status`. `sbatch
// --wait` is not used either: it polls slowly and returns 0 for a job that was cancelled.
import Foundation

public struct Slurm: Sendable {
    public var sbatch: String
    public var scontrol: String
    public var scancel: String?

    /// How long a tool may take: a controller that does not answer makes them retry for minutes.
    static let timeout = 30.0

    /// Finds the tools and checks that the controller answers (`scontrol ping`); throws saying
    /// what is missing and that nothing was submitted.
    public static func connect() throws -> Slurm {
        guard let sbatch = find("sbatch") else {
            throw RunnerError.invalid("--slurm: sbatch is not on PATH (run this on a Slurm login node, or add Slurm's bin folder to PATH); nothing was submitted")
        }
        guard let scontrol = find("scontrol") else {
            throw RunnerError.invalid("--slurm: scontrol is not on PATH beside \(sbatch) (exprun follows jobs with it); nothing was submitted")
        }
        let slurm = Slurm(sbatch: sbatch, scontrol: scontrol, scancel: find("scancel"))
        let ping = try slurm.run(scontrol, ["ping"])
        guard ping.status == 0, ping.stdout.contains(" is UP") else {
            let said = (ping.stdout + " " + ping.stderr).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("*") }.joined(separator: "; ")
            let conf = ProcessInfo.processInfo.environment["SLURM_CONF"].map { " (SLURM_CONF=\($0))" } ?? ""
            throw RunnerError.invalid("--slurm: the Slurm controller does not answer: `scontrol ping` says \(said.isEmpty ? "nothing" : "'\(said)'")\(conf); "
                + "check that slurmctld runs and SLURM_CONF names its slurm.conf; nothing was submitted")
        }
        return slurm
    }

    /// For reading job states only: the tools, without asking the controller first.
    public static func tools() -> Slurm? {
        guard let scontrol = find("scontrol") else { return nil }
        return Slurm(sbatch: find("sbatch") ?? "sbatch", scontrol: scontrol, scancel: find("scancel"))
    }

    static func find(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { $0 + "/" + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    func run(_ tool: String, _ arguments: [String]) throws -> Output {
        let outcome = try ChildProcess.run(executable: tool, arguments: arguments, input: Data(), timeout: Self.timeout) { _ in }
        if outcome.timedOut {
            throw RunnerError.invalid("\((tool as NSString).lastPathComponent) \(arguments.joined(separator: " ")) did not answer within \(Int(Self.timeout)) s (is the Slurm controller up?)")
        }
        return Output(status: outcome.exitStatus, stdout: String(decoding: outcome.stdout, as: UTF8.self), stderr: outcome.stderrTail)
    }

    /// Submits a batch script; returns the job id (`sbatch --parsable` prints `ID` or `ID;CLUSTER`).
    public func submit(_ arguments: [String], script: String) throws -> String {
        let out = try run(sbatch, ["--parsable"] + arguments + [script])
        let id = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard out.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            let said = out.stderr.isEmpty ? out.stdout : out.stderr
            throw RunnerError.invalid("sbatch refused the job: \(said.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return id
    }

    public func cancel(_ jobs: [String]) {
        guard let scancel, !jobs.isEmpty else { return }
        _ = try? run(scancel, jobs)
    }

    /// The controller's view of a job (every task of an array); empty when it no longer knows it
    /// (finished more than MinJobAge ago) or never did.
    public func jobs(_ id: String) throws -> [SlurmJob] {
        let out = try run(scontrol, ["show", "job", "-o", id])
        if out.status != 0 {
            if (out.stdout + out.stderr).contains("Invalid job id") { return [] }
            throw RunnerError.invalid("scontrol show job \(id) failed: \((out.stderr.isEmpty ? out.stdout : out.stderr).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return out.stdout.split(whereSeparator: \.isNewline).compactMap { SlurmJob(line: String($0)) }
    }
}

/// One line of `scontrol show job -o`: a job, one task of an array, or an array's tasks still
/// pending together (`ArrayTaskId=2-7%2`).
public struct SlurmJob: Sendable, Equatable {
    public var jobID: String
    public var arrayJobID: String?
    /// The array tasks this line stands for (one, or several still pending).
    public var tasks: [Int]
    public var state: String
    public var reason: String
    /// `status:signal` of the batch script.
    public var exitCode: String
    public var node: String?

    static let endedStates: Set<String> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                                           "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT"]
    public var ended: Bool { Self.endedStates.contains(state) }
    /// Ended otherwise than with status 0.
    public var failed: Bool { ended && (state != "COMPLETED" || exitCode != "0:0") }
    public var describe: String { state + (state == "COMPLETED" && exitCode == "0:0" ? "" : " (exit code \(exitCode))") }

    public init?(line: String) {
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            guard let eq = part.firstIndex(of: "=") else { continue }
            let key = String(part[..<eq])
            if fields[key] == nil { fields[key] = String(part[part.index(after: eq)...]) }
        }
        guard let id = fields["JobId"], let state = fields["JobState"] else { return nil }
        jobID = id
        arrayJobID = fields["ArrayJobId"]
        tasks = fields["ArrayTaskId"].map(Self.expand) ?? []
        self.state = state
        reason = fields["Reason"] ?? "None"
        exitCode = fields["ExitCode"] ?? "0:0"
        node = fields["NodeList"].flatMap { $0 == "(null)" || $0.isEmpty ? nil : $0 }
    }

    /// `0`, `2-7%2`, `0,3,5-9:2%4` → the task indices.
    static func expand(_ text: String) -> [Int] {
        let list = text.split(separator: "%").first ?? ""
        return list.split(separator: ",").flatMap { part -> [Int] in
            let stepParts = part.split(separator: ":")
            let step = stepParts.count > 1 ? max(1, Int(stepParts[1]) ?? 1) : 1
            let bounds = stepParts[0].split(separator: "-").compactMap { Int($0) }
            guard let low = bounds.first else { return [] }
            return Array(stride(from: low, through: bounds.count > 1 ? bounds[1] : low, by: step))
        }
    }
}
