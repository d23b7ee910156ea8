// Commands for running an experiment on a Slurm cluster and bringing results together: the
// options `exprun run FILE --slurm` takes, `exprun status`, `exprun merge` (shards or other
// databases), and the hidden `exprun slurm-task` that each array task runs.
import ArgumentParser
import ExpRunKit
import Foundation

let slurmCommands: [ParsableCommand.Type] = [Status.self, MergeCommand.self, SlurmTaskCommand.self]

struct SlurmFlags: ParsableArguments {
    @Flag(help: "Submit the plan to Slurm: one job array (a task per run round) and a merge job that stores the shards and renders the report.")
    var slurm = false
    @Option(help: "With --slurm: the partition to submit to.")
    var partition: String?
    @Option(help: "With --slurm: time limit of each array task (HH:MM:SS, MM, D-HH:MM:SS).")
    var time: String?
    @Option(help: "With --slurm: at most this many array tasks at once.")
    var maxParallel: Int?
    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue, help: "With --slurm: one more sbatch argument (repeatable), e.g. --sbatch-arg=--mem=8G.")
    var sbatchArguments: [String] = []
    @Flag(help: "With --slurm: wait until the array and the merge job end; exit non-zero if any task or round failed.")
    var wait = false

    func validate() throws {
        if !slurm {
            let given = [partition.map { _ in "--partition" }, time.map { _ in "--time" }, maxParallel.map { _ in "--max-parallel" },
                         sbatchArguments.isEmpty ? nil : "--sbatch-arg", wait ? "--wait" : nil].compactMap { $0 }
            if !given.isEmpty { throw ValidationError("\(given.joined(separator: ", ")) only go with --slurm") }
        }
    }

    var options: SlurmOptions {
        SlurmOptions(partition: partition, time: time, maxParallel: maxParallel, sbatchArguments: sbatchArguments)
    }

    /// `exprun run FILE --slurm`: checks the options and the cluster, resolves the models (the
    /// nodes read them from the same paths), then submits.
    func submit(_ plan: Plan, runner: ExperimentRunner, downloads: DownloadLog, store: StoreOptions) throws {
        try options.validate()
        let cluster = try Slurm.connect()
        let resolved = try runner.resolve(plan)
        downloads.end()
        let outcome = try SlurmSubmitter.submit(resolved, options: options, databasePath: store.db, resultsDirectory: store.resultsDirectory,
                                                executable: ChildProcess.currentExecutable(), slurm: cluster, force: runner.force)
        let name = plan.spec.name
        guard let s = outcome.submission, let array = s.arrayJob, let merge = s.mergeJob else {
            print("experiment \(name): all \(outcome.planned) run round(s) are stored (database or shards); nothing submitted")
            return
        }
        print("""
            experiment \(name): \(s.steps.count) of \(outcome.planned) run round(s) to measure (\(outcome.skipped) already stored) in \(s.tasks.count) array task(s)\(s.maxParallel.map { ", at most \($0) at once" } ?? "")
            array job \(array), merge job \(merge) (after the array ends: stores into \(s.database) and renders the report)
            submission folder \(s.directory) (shards/, logs/)
            follow with: exprun status \(name) [--wait]    or: squeue -j \(array),\(merge)
            """)
        if wait { try waitAndExit(s, slurm: cluster) }
    }
}

/// Waits for a submission to end, prints its status and exits non-zero when anything failed.
func waitAndExit(_ submission: SlurmSubmission, slurm: Slurm) throws {
    let status = try SlurmStatus.wait(submission, slurm: slurm) { printErr($0) }
    print(status.render())
    if status.failed { throw ExitCode.failure }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How far experiments submitted with --slurm are: tasks, rounds in shards and in the database, the merge job; non-zero exit if any failed.")
    @Argument(help: "An experiment's name or file (default: every experiment submitted from this results folder).")
    var experiment: String?
    @Flag(help: "Wait until the array and the merge job end.")
    var wait = false
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            let names: [String]
            if let experiment {
                names = [experiment.hasSuffix(".exp") || FileManager.default.fileExists(atPath: experiment)
                         ? try SpecParser.load(path: experiment).name : experiment]
            } else {
                names = ((try? FileManager.default.contentsOfDirectory(atPath: store.resultsDirectory + "/slurm")) ?? []).sorted()
            }
            let submissions = names.compactMap { SlurmSubmission.all(results: store.resultsDirectory, experiment: $0).last }
            guard !submissions.isEmpty else {
                throw RunnerError.invalid("no experiment \(experiment.map { "'\($0)' " } ?? "")was submitted with --slurm from \(store.resultsDirectory) (its submissions live in \(store.resultsDirectory)/slurm/); pass --db or --results if it used others")
            }
            var failed = false
            for s in submissions {
                if wait, let slurm = Slurm.tools() {
                    do { try waitAndExit(s, slurm: slurm) } catch is ExitCode { failed = true }
                } else {
                    let status = try SlurmStatus.read(s, slurm: Slurm.tools())
                    print(status.render())
                    failed = failed || status.failed
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Import runs made elsewhere: shards of a --slurm submission (files or folders) or other exprun databases; idempotent by run key and round.")
    @Argument(help: "Shard files (*.jsonl), folders of shards, or exprun databases (.sqlite).")
    var inputs: [String] = []
    @Option(help: "Only shards of this experiment (others are refused).")
    var experiment: String?
    @Option(help: "The merge step of a submission: its experiment's shards, and its tasks' lost rounds as failed runs.")
    var submission: String?
    @Flag(help: "Do not render the reports of the experiments merged into.")
    var noReport = false
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            var paths = inputs, lost: [ShardRecord] = [], name = experiment
            if let submission {
                let s = try SlurmSubmission.read(directory: submission)
                paths.append(SlurmSubmission.folder(results: s.results, experiment: s.experiment.name))
                lost = try SlurmStatus.read(s, slurm: Slurm.tools()).lostRounds()
                name = s.experiment.name
            }
            guard !paths.isEmpty else { throw ValidationError("give shards, folders of shards or databases to merge (or --submission DIR)") }
            // Everything is read and checked before the database is opened.
            let read = try Merge.read(paths, experiment: name)
            let database = try Store(path: store.db)
            var touched: [String] = []
            if !read.shards.isEmpty || !lost.isEmpty {
                let s = try Merge.shards(read.shards, extra: lost, into: database, replacingExperiment: submission != nil)
                print("\(read.shards.count) shard(s)\(lost.isEmpty ? "" : " and \(lost.count) round(s) of tasks that ended before measuring them"): "
                      + "\(s.imported) round(s) imported, \(s.unchanged) already stored, \(s.kept) kept as stored")
                touched += s.experiments
            }
            for path in read.databases {
                let s = try Merge.database(path, into: database)
                s.notes.forEach { print($0) }
                print("\(path): \(s.imported) round(s) imported, \(s.unchanged) already stored, \(s.kept) kept as stored")
                touched += s.experiments
            }
            if !noReport {
                for e in touched where (try? database.experiment(named: e)) != nil {
                    print("report: " + (try ExperimentReport.write(experiment: e, store: database, resultsDirectory: store.resultsDirectory)))
                }
            }
        }
    }
}

struct SlurmTaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm-task", abstract: "Internal: run one array task of a --slurm submission into its shard.", shouldDisplay: false)
    @Argument(help: "The submission folder.")
    var directory: String
    @Option(help: "The task (default: SLURM_ARRAY_TASK_ID).")
    var task: Int?

    func run() throws {
        try runnerErrors {
            guard let index = task ?? ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init) else {
                throw RunnerError.invalid("slurm-task: no task index (SLURM_ARRAY_TASK_ID is not set; pass --task N)")
            }
            let failed = try SlurmTask.run(directory: directory, index: index, version: exprunVersion)
            if failed > 0 { throw ExitCode.failure }
        }
    }
}
