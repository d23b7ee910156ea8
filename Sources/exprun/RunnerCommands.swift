// Commands over the experiment runner: run (default), validate, list, show, report, compare, and
// the hidden run-one that a run's child process executes.
import ArgumentParser
import ExpRunKit
import Foundation

let runnerCommands: [ParsableCommand.Type] = [
    RunExperiment.self, Validate.self, ListRuns.self, ShowRun.self, Report.self, Compare.self, RunOne.self,
]

/// Runs `body`; errors become lines `exprun: error: ...` (or the spec's own positioned lines) on
/// stderr and exit status 1.
func runnerErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as SpecError {
        FileHandle.standardError.write(Data((e.description + "\n").utf8))
        throw ExitCode.failure
    } catch {
        FileHandle.standardError.write(Data("exprun: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// `arguments` as one line a POSIX shell reads back the same.
func shellCommand(_ arguments: [String]) -> String {
    arguments.map { a in
        a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=@%+,".contains($0) }) && !a.isEmpty ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

struct StoreOptions: ParsableArguments {
    @Option(help: "The run database.")
    var db: String = "results/exprun.sqlite"
    @Option(help: "Where reports are written (default: the database's folder).")
    var results: String?

    var resultsDirectory: String {
        results ?? { let d = (db as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }()
    }
}

struct RunExperiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment file: every configuration in its own process, stored in SQLite, then the report.")

    @Argument(help: "The experiment file (.exp, YAML).")
    var file: String
    @Flag(help: "Print the plan (one line per run, with its key) and stop.")
    var dryRun = false
    @Flag(help: "Run again configurations already stored with the same key.")
    var force = false
    @Flag(help: "Do not render the report at the end.")
    var noReport = false
    @OptionGroup var store: StoreOptions
    @OptionGroup(title: "Slurm") var slurm: SlurmFlags

    func run() throws {
        try runnerErrors {
            let spec = try SpecParser.load(path: file)
            let plan = Plan(spec: spec, version: exprunVersion)
            if dryRun {
                var stored: [String: Set<Int>] = [:]
                if FileManager.default.fileExists(atPath: store.db), let s = try? Store(path: store.db, readOnly: true) {
                    stored = (try? s.storedRounds(experiment: spec.name)) ?? [:]
                }
                print(plan.describe(stored: force ? [:] : stored))
                return
            }
            let downloads = DownloadLog()
            let hub = HubClient(log: { downloads.show($0) })
            let runner = ExperimentRunner(executable: ChildProcess.currentExecutable(), version: exprunVersion, force: force, hub: hub)
            if slurm.slurm { try slurm.submit(plan, runner: runner, downloads: downloads, store: store); return }
            // Everything that can fail on a bad file or a missing model fails before the database is opened.
            let resolved = try runner.resolve(plan)
            downloads.end()
            let database = try Store(path: store.db)
            let rounds = spec.measure.roundCount
            let progress = ProgressReporter(total: resolved.schedule.count)
            progress.message("experiment \(spec.name): \(resolved.entries.count) run(s)" + (rounds > 1 ? " in \(rounds) interleaved rounds" : "") + ", database \(store.db)")
            // Ctrl-C / SIGTERM stop the running child and end with how to resume; a file size limit
            // becomes a write error that the store explains rather than a killed process.
            Interruption.install()
            signal(SIGXFSZ, SIG_IGN)
            let summary: RunSummary
            do { summary = try runner.run(resolved, store: database, progress: progress) } catch let stop as Interrupted {
                printErr("exprun: \(stop)")
                printErr("exprun: resume with the same command (stored runs are skipped): \(shellCommand(CommandLine.arguments))")
                throw ExitCode(stop.exitStatus)
            }
            if !noReport {
                let path = try ExperimentReport.write(experiment: spec.name, store: database, resultsDirectory: store.resultsDirectory)
                progress.message("report: \(path)")
            }
            let unit = rounds > 1 ? "run round(s)" : "run(s)"
            progress.message("\(summary.succeeded) \(unit) done, \(summary.skipped) already stored, \(summary.failed) failed")
            if summary.failed > 0 { throw ExitCode.failure }
        }
    }
}

/// Download progress on stderr: one line rewritten in place on a terminal, a line every few
/// seconds otherwise.
final class DownloadLog: @unchecked Sendable {
    let interactive = isatty(2) == 1
    let lock = NSLock()
    var last = Date.distantPast
    var open = false

    func show(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8)); open = true
        } else if Date().timeIntervalSince(last) >= 5 {
            last = Date(); printErr(line)
        }
    }

    func end() {
        lock.lock(); defer { lock.unlock() }
        if open { FileHandle.standardError.write(Data("\n".utf8)); open = false }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check experiment files without running them.")

    @Argument(help: "Experiment files.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                let spec = try SpecParser.load(path: file)
                let plan = Plan(spec: spec, version: exprunVersion)
                print("\(file): ok (experiment \(spec.name), \(plan.entries.count) run(s))")
            } catch let e as SpecError {
                printErr(e.description); failed = true
            } catch {
                printErr("exprun: error: \(error)"); failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}

struct ListRuns: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List stored experiments and runs, newest first.")
    @Option(help: "Only the runs of this experiment.")
    var experiment: String?
    @Option(help: "At most this many runs.")
    var limit: Int = 50
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            print(try Browse.list(store: try Store(path: store.db, readOnly: true), experiment: experiment, limit: max(1, limit)))
        }
    }
}

struct ShowRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show everything stored about one run.")
    @Argument(help: "The run id (from `exprun list`).")
    var id: String
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            guard let number = Int64(id.hasPrefix("#") ? String(id.dropFirst()) : id) else {
                throw RunnerError.invalid("'\(id)' is not a run id (a number from `exprun list`)")
            }
            print(try Browse.show(store: try Store(path: store.db, readOnly: true), id: number))
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render an experiment's report from the database alone.")
    @Argument(help: "The experiment's name.")
    var experiment: String
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            let database = try Store(path: store.db, readOnly: true)
            print(try ExperimentReport.write(experiment: experiment, store: database, resultsDirectory: store.resultsDirectory))
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare experiments (by name) or runs (by id): matching configurations side by side, with ratios.")
    @Argument(help: "Two or more experiment names or run ids, optionally from another database (other.sqlite:NAME); the first is the reference.")
    var sides: [String]
    @Option(help: "Folder for compare.md and its charts (default: <results>/compare/<A>-vs-<B>).")
    var output: String?
    @Option(help: "markdown (write compare.md and print its path) or json (print every paired configuration and metric: configuration, metric, a, b, ratio, ratio_low, ratio_high, verdict).")
    var format: String = "markdown"
    @OptionGroup var store: StoreOptions

    func run() throws {
        try runnerErrors {
            guard ["markdown", "json"].contains(format) else { throw RunnerError.invalid("--format \(format): use markdown or json") }
            let database = try Store(path: store.db, readOnly: true)
            if format == "json" { print(try CompareReport.json(sides, store: database)); return }
            let name = sides.map { ($0 as NSString).lastPathComponent.replacingOccurrences(of: ".sqlite:", with: "_") }.joined(separator: "-vs-")
            let directory = output ?? store.resultsDirectory + "/compare/" + name
            print(try CompareReport.write(sides, store: database, directory: directory))
        }
    }
}

struct RunOne: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-one", abstract: "Internal: run one plan entry (JSON on stdin or --entry) and print its record.",
        shouldDisplay: false)
    @Option(help: "A file holding the plan entry (default: stdin).")
    var entry: String?

    func run() throws {
        ChildRun.exitWithParent()
        Interruption.endOnInterrupt()
        let data: Data
        if let entry {
            guard let d = FileManager.default.contents(atPath: entry) else { printErr("exprun run-one: cannot read \(entry)"); throw ExitCode.failure }
            data = d
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let plan: PlanEntry
        do { plan = try JSONDecoder.runRecord.decode(PlanEntry.self, from: data) } catch {
            printErr("exprun run-one: the plan entry is not valid JSON: \(error)")
            throw ExitCode.failure
        }
        let record = ChildRun.execute(plan) { printErr(ChildProcess.progressPrefix + $0) }
        if let error = record.error { printErr("exprun run-one: \(error)") }
        let out = try JSONEncoder.runRecord.encode(record)
        FileHandle.standardOutput.write(out + Data("\n".utf8))
        if record.status != .ok { throw ExitCode.failure }
    }
}
