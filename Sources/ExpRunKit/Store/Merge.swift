// Bringing runs measured elsewhere into one database: the shards of a Slurm job array, or whole
// databases made on other machines (a laptop's and a server's). Every input is read and checked
// before anything is written, so a truncated shard or one of another experiment is refused by name
// and the database is left as it was.
//
// A round is identified by (experiment, plan key, round). Merging the same inputs twice changes
// nothing: a round stored with the same status and times is left alone. Otherwise a successful
// round is never replaced by a failed one, and between two of the same status the one that
// finished later wins.
//
// A database's experiment whose runs were all measured on machines that the target's experiment
// of the same name never saw is kept apart, as `NAME@HOST`, so both machines' runs stay and
// `exprun compare NAME NAME@HOST` pairs them; runs of an experiment on the same machines (or of
// one the target does not have) merge into it.
import Foundation
import GRDB

public struct MergeSummary: Sendable {
    public var imported = 0
    /// Rounds already stored exactly so (a second merge of the same input).
    public var unchanged = 0
    /// Rounds whose stored measurement was kept over the incoming one (a failure, or an older one).
    public var kept = 0
    /// Experiments written to, in the order first met.
    public var experiments: [String] = []
    /// What the command prints: one line per input and per experiment kept apart.
    public var notes: [String] = []

    mutating func add(_ outcome: Merge.Outcome) {
        switch outcome {
        case .imported: imported += 1
        case .unchanged: unchanged += 1
        case .kept: kept += 1
        }
    }
    mutating func touched(_ experiment: String) { if !experiments.contains(experiment) { experiments.append(experiment) } }
}

public enum Merge {
    enum Outcome { case imported, unchanged, kept }

    /// What `exprun merge` was given, read and checked.
    public struct Inputs: Sendable {
        public var shards: [Shard] = []
        public var databases: [String] = []
    }

    /// Reads every input: a shard, a folder of shards (`*.jsonl`, searched below it), or an exprun
    /// database. Shards must all be of one experiment: `experiment`, else the first shard's. Throws
    /// one error listing every input refused, by name.
    public static func read(_ paths: [String], experiment: String? = nil) throws -> Inputs {
        var inputs = Inputs()
        var problems: [String] = []
        var expected = experiment
        var firstShard: String?
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append("\(path): no such shard, folder or database"); continue
            }
            let files = isDirectory.boolValue ? shardFiles(under: path) : [path]
            if isDirectory.boolValue && files.isEmpty { problems.append("\(path): holds no shard (*.jsonl)"); continue }
            for file in files {
                if !isDirectory.boolValue && isSQLite(file) { inputs.databases.append(file); continue }
                do {
                    let shard = try Shard.read(path: file)
                    let name = shard.header.experiment.name
                    if let expected, name != expected {
                        let whose = firstShard.map { "like \($0)" } ?? "as asked (--experiment)"
                        problems.append("\(file): is a shard of experiment '\(name)', not of '\(expected)' \(whose); merge it on its own")
                        continue
                    }
                    expected = name
                    if firstShard == nil { firstShard = file }
                    inputs.shards.append(shard)
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        if !problems.isEmpty {
            throw RunnerError.invalid(problems.joined(separator: "\n") + "\nnothing was merged (the database was not touched)")
        }
        return inputs
    }

    static func shardFiles(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".jsonl") }.sorted().map { folder + "/" + $0 }
    }

    static func isSQLite(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 16)) == Data("SQLite format 3\0".utf8)
    }

    /// Imports shards' records (and `extra` ones, such as the failed rounds of tasks that ended
    /// before storing them) into `store`. `replacingExperiment`: the shards' experiment row
    /// replaces the stored one (the merge step of a submission, which stands for running it).
    public static func shards(_ shards: [Shard], extra: [ShardRecord] = [], into store: Store,
                              replacingExperiment: Bool) throws -> MergeSummary {
        var summary = MergeSummary()
        var ids: [String: Int64] = [:]
        for shard in shards {
            let e = shard.header.experiment
            if ids[e.name] == nil { ids[e.name] = try store.saveExperiment(e, replacing: replacingExperiment) }
        }
        for r in shards.flatMap(\.records) + extra {
            guard let id = ids[r.entry.experiment] else { continue }
            summary.add(try store.mergeRound(experimentID: id, entry: r.entry, record: r.record))
            summary.touched(r.entry.experiment)
        }
        return summary
    }

    /// Imports every experiment of another exprun database into `store`, keeping each run's machine.
    public static func database(_ path: String, into store: Store) throws -> MergeSummary {
        let source = try Store(path: path, readOnly: true)
        var summary = MergeSummary()
        for experiment in try source.experiments().reversed() {
            let runs = try source.runs(experiment: experiment.name)
            guard !runs.isEmpty else { continue }
            var row = ExperimentRow(experiment)
            let hosts = Set(runs.compactMap { $0.record.environment?.hostname })
            let here = Set(try store.runs(experiment: experiment.name).compactMap { $0.record.environment?.hostname })
            if !here.isEmpty, !hosts.isEmpty, hosts.isDisjoint(with: here) {
                row.name = experiment.name + "@" + hosts.sorted().joined(separator: "+")
                summary.notes.append("\(path): experiment \(experiment.name) was measured on \(hosts.sorted().joined(separator: ", ")), "
                    + "its runs here on \(here.sorted().joined(separator: ", ")): kept apart as experiment \(row.name) "
                    + "(`exprun compare \(experiment.name) \(row.name)` pairs them)")
            }
            let id = try store.saveExperiment(row, replacing: false)
            for run in runs {
                var entry = run.entry
                entry.experiment = row.name
                for record in try source.roundRecords(of: run) {
                    summary.add(try store.mergeRound(experimentID: id, entry: entry, record: record))
                }
            }
            summary.touched(row.name)
        }
        return summary
    }
}

extension Store {
    /// Stores one round unless what is stored for it should stay (see the file's first comment).
    func mergeRound(experimentID: Int64, entry: PlanEntry, record: RunRecord) throws -> Merge.Outcome {
        let iso = ISO8601DateFormatter()
        let stored = try queue.read { db in
            try Row.fetchOne(db, sql: """
                SELECT run_round.status, run_round.started_at, run_round.finished_at FROM run_round JOIN run ON run.id = run_round.run_id
                WHERE run.experiment_id = ? AND run.key = ? AND run_round.round = ?
                """, arguments: [experimentID, entry.key, record.round ?? 0])
        }
        if let stored {
            let status: String = stored["status"], started: String = stored["started_at"], finished: String = stored["finished_at"]
            if status == record.status.rawValue && started == iso.string(from: record.startedAt)
                && finished == iso.string(from: record.finishedAt) { return .unchanged }
            let storedOK = status == RunRecord.Status.ok.rawValue, incomingOK = record.status == .ok
            if storedOK && !incomingOK { return .kept }
            if storedOK == incomingOK, let storedEnd = iso.date(from: finished), storedEnd >= record.finishedAt { return .kept }
        }
        try saveRound(experimentID: experimentID, entry: entry, record: record)
        return .imported
    }

    /// A stored run as the records of its rounds, each as its child reported it (with the run's
    /// environment), so it can be stored again elsewhere round by round.
    func roundRecords(of run: StoredRun) throws -> [RunRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run_round WHERE run_id = ? ORDER BY round", arguments: [run.id]).map { row in
                let round = Self.roundRecord(row)
                var r = RunRecord(key: run.entry.key, status: round.status, startedAt: round.startedAt, finishedAt: round.finishedAt)
                r.round = round.round
                r.error = round.error
                r.stderrTail = row["stderr_tail"]
                r.loadSeconds = round.loadSeconds
                r.memory = round.memory
                r.weights = run.record.weights
                r.promptTokens = run.record.promptTokens
                r.newTokensRequested = run.record.newTokensRequested
                r.repeats = run.record.repeats.filter { $0.round == round.round }
                if round.round == 0 { r.quality = run.record.quality }
                r.encoder = Self.encoderFigures(row)
                r.environment = run.record.environment
                r.environment?.slurmJob = round.slurmJob
                r.environment?.slurmNode = round.slurmNode
                return r
            }
        }
    }
}
