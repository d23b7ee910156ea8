// An experiment's plan handed to Slurm (`exprun run FILE --slurm`): the rounds not stored yet, in
// the local schedule's order, become the tasks of one job array (a task per round, or per few
// consecutive rounds when there are more than an array may hold), and a merge job waits for the
// whole array (`--dependency=afterany`) to import the shards into the database and render the
// report. Everything lives in a submission folder under the results folder, which every node must
// see at the same path (a shared file system):
//
//   <results>/slurm/<experiment>/<id>/submission.json   what each task runs, the job ids
//                                    task.sh, merge.sh   the batch scripts
//                                    shards/task-N.jsonl the records of task N (Shard.swift)
//                                    logs/               Slurm's output of each task and the merge
//
// The database is written only by the merge job (or `exprun merge`), one process at a time.
import Foundation

public struct SlurmSubmission: Sendable, Codable {
    public var format = 1
    public var id: String
    public var experiment: ExperimentRow
    public var database: String
    public var results: String
    /// The exprun that submitted, which every task and the merge job run.
    public var executable: String
    /// The plan's entries that have rounds to run, models resolved.
    public var entries: [PlanEntry]
    /// The rounds of each array task, in order.
    public var tasks: [[PlanStep]]
    public var maxParallel: Int?
    public var submittedAt: Date
    public var arrayJob: String?
    public var mergeJob: String?

    /// Slurm's default MaxArraySize is 1001: indices 0...1000.
    static let maxTasks = 1000

    public var directory: String { Self.folder(results: results, experiment: experiment.name) + "/" + id }
    public func shardPath(task: Int) -> String { directory + "/shards/task-\(task).jsonl" }
    public func logPath(task: Int) -> String? { arrayJob.map { directory + "/logs/\($0)_\(task).log" } }
    public var steps: [PlanStep] { tasks.flatMap { $0 } }

    public static func folder(results: String, experiment: String) -> String { results + "/slurm/" + experiment }

    /// The rounds of `plan` in the local runner's order, less those `stored`, in tasks.
    public static func tasks(_ plan: Plan, skipping stored: Set<PlanStep>) -> [[PlanStep]] {
        let steps = plan.schedule.map { PlanStep(key: plan.entries[$0.entry].key, round: $0.round) }.filter { !stored.contains($0) }
        let size = max(1, (steps.count + maxTasks - 1) / maxTasks)
        return stride(from: 0, to: steps.count, by: size).map { Array(steps[$0..<min($0 + size, steps.count)]) }
    }

    public static func read(directory: String) throws -> SlurmSubmission {
        let path = directory + "/submission.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw RunnerError.file(path, "no such submission (was it submitted with --slurm?)") }
        do { return try JSONDecoder.record.decode(SlurmSubmission.self, from: data) } catch {
            throw RunnerError.file(path, "is not an exprun submission: \(error)")
        }
    }

    /// The experiment's submissions, oldest first (ids sort by time).
    public static func all(results: String, experiment: String) -> [SlurmSubmission] {
        let folder = folder(results: results, experiment: experiment)
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return ids.compactMap { try? read(directory: folder + "/" + $0) }
    }

    func write() throws {
        let data = try JSONEncoder.record.encode(self)
        // Atomically: a task starting meanwhile reads the old file or the new one.
        try data.write(to: URL(fileURLWithPath: directory + "/submission.json"), options: .atomic)
    }

    public var entriesByKey: [String: PlanEntry] { Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }) }
}

/// What `exprun run FILE --slurm` was asked.
public struct SlurmOptions: Sendable {
    public var partition: String?
    public var time: String?
    public var maxParallel: Int?
    public var sbatchArguments: [String]
    public init(partition: String?, time: String?, maxParallel: Int?, sbatchArguments: [String]) {
        self.partition = partition; self.time = time; self.maxParallel = maxParallel; self.sbatchArguments = sbatchArguments
    }

    /// Slurm's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    /// days-hours:minutes, days-hours:minutes:seconds.
    public func validate() throws {
        if let time, time.range(of: #"^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2})$"#, options: .regularExpression) == nil {
            throw RunnerError.invalid("--time \(time): not a Slurm time limit; use HH:MM:SS (e.g. 02:00:00), MM, or D-HH:MM:SS")
        }
        if let maxParallel, maxParallel < 1 { throw RunnerError.invalid("--max-parallel \(maxParallel): must be at least 1") }
    }
}

public enum SlurmSubmitter {
    public struct Outcome: Sendable {
        public var submission: SlurmSubmission?
        /// Rounds of the plan already stored (in the database or in shards), skipped.
        public var skipped: Int
        public var planned: Int
    }

    /// Plans, skips what is stored (unless `force`), writes the submission folder and submits the array and its
    /// merge job. Nothing is left submitted or written when any step fails.
    public static func submit(_ plan: Plan, options: SlurmOptions, databasePath: String, resultsDirectory: String,
                              executable: String, slurm: Slurm, force: Bool = false) throws -> Outcome {
        let results = absolute(resultsDirectory), database = absolute(databasePath)
        let name = plan.spec.name
        try refuseWhileActive(results: results, experiment: name, slurm: slurm)
        // --force measures everything again; the merge then keeps the later measurement of each round.
        let stored = force ? [] : try storedSteps(plan, database: database, results: results)
        let tasks = SlurmSubmission.tasks(plan, skipping: stored)
        let planned = plan.schedule.count
        guard !tasks.isEmpty else { return Outcome(submission: nil, skipped: planned, planned: planned) }

        let keys = Set(tasks.joined().map(\.key))
        let id = timestamp()
        var submission = SlurmSubmission(
            id: id, experiment: ExperimentRow(plan.spec, planKeys: plan.entries.map(\.key)), database: database, results: results,
            executable: executable, entries: plan.entries.filter { keys.contains($0.key) }, tasks: tasks,
            maxParallel: options.maxParallel, submittedAt: Date())
        let dir = submission.directory
        do {
            for sub in ["shards", "logs"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
            try submission.write()
            try script(dir + "/task.sh", """
                # exprun: one array task of experiment \(name) (submission \(id)): its rounds, each in a
                # fresh `exprun run-one` child as the local runner does, into shards/task-$SLURM_ARRAY_TASK_ID.jsonl
                exec \(shellQuote(executable)) slurm-task \(shellQuote(dir))
                """)
            try script(dir + "/merge.sh", """
                # exprun: after every task of the array ended, import the experiment's shards into the
                # database and render the report.
                exec \(shellQuote(executable)) merge --submission \(shellQuote(dir)) --db \(shellQuote(database)) --results \(shellQuote(results))
                """)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw RunnerError.file(dir, "the submission folder cannot be written (\(error)); nothing was submitted")
        }

        // Every task gets the CPUs of the most threaded run, so no run shares its cores with a neighbour.
        let cpus = submission.entries.map(\.threads).max() ?? 1
        let common = (options.partition.map { ["--partition=\($0)"] } ?? []) + ["--chdir=" + FileManager.default.currentDirectoryPath]
        let limit = options.maxParallel.map { "%\($0)" } ?? ""
        do {
            let array = try slurm.submit(common + ["--job-name=exprun-\(name)", "--array=0-\(tasks.count - 1)\(limit)",
                                                   "--cpus-per-task=\(cpus)", "--output=\(dir)/logs/%A_%a.log"]
                                         + (options.time.map { ["--time=\($0)"] } ?? []) + options.sbatchArguments, script: dir + "/task.sh")
            submission.arrayJob = array
            do {
                submission.mergeJob = try slurm.submit(common + ["--job-name=exprun-\(name)-merge", "--dependency=afterany:\(array)",
                                                                 "--output=\(dir)/logs/merge-%j.log"] + options.sbatchArguments,
                                                       script: dir + "/merge.sh")
            } catch {
                slurm.cancel([array])
                throw error
            }
            try submission.write()
        } catch {
            if let array = submission.arrayJob { slurm.cancel([array] + (submission.mergeJob.map { [$0] } ?? [])) }
            try? FileManager.default.removeItem(atPath: dir)
            throw RunnerError.invalid("\(error); nothing was submitted")
        }
        return Outcome(submission: submission, skipped: planned - submission.steps.count, planned: planned)
    }

    /// Rounds stored as successful in the database or in a shard not merged yet. A damaged shard
    /// stops the submission: its merge job could not merge it.
    static func storedSteps(_ plan: Plan, database: String, results: String) throws -> Set<PlanStep> {
        var stored = Set<PlanStep>()
        for (key, rounds) in try Store.storedRounds(path: database, experiment: plan.spec.name) {
            for r in rounds { stored.insert(PlanStep(key: key, round: r)) }
        }
        let folder = SlurmSubmission.folder(results: results, experiment: plan.spec.name)
        if FileManager.default.fileExists(atPath: folder) {
            for shard in try Merge.read([folder], experiment: plan.spec.name).shards {
                for r in shard.records where r.record.status == .ok { stored.insert(PlanStep(key: r.entry.key, round: r.entry.round ?? 0)) }
            }
        }
        return stored
    }

    /// A second submission while the first still runs would measure the same rounds twice.
    static func refuseWhileActive(results: String, experiment: String, slurm: Slurm) throws {
        guard let last = SlurmSubmission.all(results: results, experiment: experiment).last else { return }
        for job in [last.arrayJob, last.mergeJob].compactMap({ $0 }) {
            if let active = try slurm.jobs(job).first(where: { !$0.ended }) {
                throw RunnerError.invalid("experiment \(experiment) has a submission in progress (job \(active.jobID): \(active.state)); "
                    + "follow it with `exprun status \(experiment) --wait` or cancel it with `scancel \([last.arrayJob, last.mergeJob].compactMap { $0 }.joined(separator: " "))`; nothing was submitted")
            }
        }
    }

    static func script(_ path: String, _ body: String) throws {
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")).standardizedFileURL.path
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: Date()) + "-\(ProcessInfo.processInfo.processIdentifier)"
    }

    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
