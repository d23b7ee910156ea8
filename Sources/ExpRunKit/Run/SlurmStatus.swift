// How far a submission is (`exprun status`, `exprun run FILE --slurm --wait`): the scheduler's view
// of the array's tasks and of the merge job (`scontrol show job -o`, JobState and ExitCode), the
// rounds each task's shard holds, and what the database stores. A task that ended without storing
// all its rounds (cancelled, timed out, its node lost) leaves those rounds to the merge job, which
// records them as failed (`lostRounds`), so a killed task is a failed run and not a silent gap.
import Foundation

public struct SlurmStatus: Sendable {
    public var submission: SlurmSubmission
    /// The scheduler's line for each task it still knows, by task index.
    public var tasks: [Int: SlurmJob] = [:]
    public var merge: SlurmJob?
    /// Rounds in this submission's shards, with their status.
    public var measured: [PlanStep: RunRecord] = [:]
    /// Shards that cannot be read (the merge will refuse them).
    public var damaged: [String] = []
    /// Rounds of the submission stored as successful in the database.
    public var stored: Set<PlanStep> = []

    public static func read(_ submission: SlurmSubmission, slurm: Slurm?) throws -> SlurmStatus {
        var status = SlurmStatus(submission: submission)
        if let slurm {
            if let array = submission.arrayJob {
                for job in try slurm.jobs(array) where job.arrayJobID == array {
                    for t in job.tasks { status.tasks[t] = job }
                }
            }
            if let merge = submission.mergeJob { status.merge = try slurm.jobs(merge).first }
        }
        for task in submission.tasks.indices where FileManager.default.fileExists(atPath: submission.shardPath(task: task)) {
            do {
                for r in try Shard.read(path: submission.shardPath(task: task)).records {
                    status.measured[PlanStep(key: r.entry.key, round: r.entry.round ?? 0)] = r.record
                }
            } catch { status.damaged.append("\(error)") }
        }
        let rounds = try Store.storedRounds(path: submission.database, experiment: submission.experiment.name)
        status.stored = Set(submission.steps.filter { rounds[$0.key]?.contains($0.round) == true })
        return status
    }

    /// A task the scheduler no longer knows (MinJobAge after it ended) has ended too.
    func ended(_ task: Int) -> Bool { tasks[task]?.ended ?? true }

    /// The array and the merge job have ended (or are no longer known to the scheduler).
    public var finished: Bool {
        submission.tasks.indices.allSatisfy(ended) && (merge?.ended ?? true)
    }

    /// One line per failure: a task that ended badly, a round that failed, a damaged shard, the merge.
    public var failures: [String] {
        var lines: [String] = damaged
        let entries = submission.entriesByKey
        for (i, steps) in submission.tasks.enumerated() {
            if let job = tasks[i], job.failed {
                lines.append("task \(i) (job \(submission.arrayJob ?? "?")_\(i)\(job.node.map { " on \($0)" } ?? "")): \(job.describe)"
                    + (submission.logPath(task: i).map { ", log \($0)" } ?? ""))
            }
            let missing = steps.filter { measured[$0] == nil && !stored.contains($0) }
            if tasks[i] == nil, !missing.isEmpty {
                lines.append("task \(i): the scheduler does not know it (any more) and \(missing.count) of its round(s) were not measured")
            }
            for step in steps {
                guard let r = measured[step], r.status != .ok, !stored.contains(step) else { continue }
                let e = entries[step.key]
                lines.append("task \(i): \(e.map { "\($0.model) \($0.label) threads=\($0.threads) \(Plan.quote($0.prompt))" } ?? step.key) round \(step.round + 1): \(r.error ?? "failed")")
            }
        }
        if let merge, merge.failed {
            lines.append("merge job \(merge.jobID): \(merge.describe), log \(submission.directory)/logs/merge-\(merge.jobID).log")
        }
        return lines
    }

    public var failed: Bool { !failures.isEmpty }

    public func render() -> String {
        let s = submission
        var counts: [String: Int] = [:]
        for i in s.tasks.indices { counts[tasks[i]?.state ?? "UNKNOWN TO THE SCHEDULER", default: 0] += 1 }
        let steps = s.steps
        let ok = steps.filter { measured[$0]?.status == .ok }.count, bad = steps.filter { measured[$0].map { $0.status != .ok } ?? false }.count
        var lines = [
            "experiment \(s.experiment.name): submission \(s.id), array job \(s.arrayJob ?? "?") (\(s.tasks.count) task(s)"
                + (s.maxParallel.map { ", at most \($0) at once" } ?? "") + "), merge job \(s.mergeJob ?? "?")",
            "tasks: " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.lowercased())" }.joined(separator: ", "),
            "rounds: \(steps.count) submitted, \(ok) measured ok, \(bad) failed, \(steps.count - ok - bad) to go; "
                + "\(stored.count) of \(steps.count) stored in \(s.database)",
        ]
        if let merge { lines.append("merge job \(merge.jobID): \(merge.state)" + (merge.ended ? " (exit code \(merge.exitCode))" : merge.reason == "None" ? "" : " (\(merge.reason))")) }
        else if s.mergeJob != nil { lines.append("merge job \(s.mergeJob!): no longer known to the scheduler") }
        lines += failures.map { "failed: " + $0 }
        return lines.joined(separator: "\n")
    }

    /// The rounds of tasks that ended without storing them, as failed records for the merge:
    /// dated by the task's log (or the submission), so merging again gives the same records.
    public func lostRounds() -> [ShardRecord] {
        let entries = submission.entriesByKey
        var lost: [ShardRecord] = []
        for (i, steps) in submission.tasks.enumerated() {
            guard let job = tasks[i], job.ended else { continue }
            let log = submission.logPath(task: i)
            let logged = log.flatMap { try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date }
            let when = logged ?? submission.submittedAt
            let tail = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
                .map { $0.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n") }
            for step in steps where measured[step] == nil {
                guard var entry = entries[step.key] else { continue }
                entry.round = step.round
                var record = RunRecord(key: step.key, status: .failed, startedAt: when, finishedAt: when)
                record.round = step.round
                record.error = "array task \(submission.arrayJob ?? "?")_\(i) ended \(job.describe)"
                    + (logged == nil ? " before it started" : " before this round was measured") + " (Slurm)"
                record.stderrTail = tail
                lost.append(ShardRecord(entry: entry, record: record))
            }
        }
        return lost
    }

    /// Polls until the array and the merge job have ended, printing a line when the counts change:
    /// every second at first, then less often (a busy controller should not be asked too much).
    public static func wait(_ submission: SlurmSubmission, slurm: Slurm, report: (String) -> Void) throws -> SlurmStatus {
        let start = Date()
        var last = ""
        while true {
            let status = try read(submission, slurm: slurm)
            let line = status.render().split(separator: "\n").prefix(3).dropFirst().joined(separator: "; ")
            if line != last { report(line); last = line }
            if status.finished { return status }
            Thread.sleep(forTimeInterval: min(30, max(1, Date().timeIntervalSince(start) / 20)))
        }
    }
}
