// The run database (SQLite through GRDB): open with WAL and a busy timeout so several exprun
// processes can write one file at once, store each run in one transaction, and read back what
// reports and browsing need. A run is identified by (experiment, plan key) and measured in rounds:
// storing a (key, round) again (after a failure, an interrupted experiment, or a shard imported
// twice) replaces that round's rows, so there is never a duplicate, and the run's own figures are
// recomputed from all its rounds.
import Foundation
import GRDB

public struct StoredExperiment: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var specPath: String
    public var specText: String
    public var weights: String
    public var baseline: String?
    public var charts: [String]
    public var template: String?
    public var createdAt: String
    public var updatedAt: String
    public var runCount: Int
    public var failedCount: Int
    /// Keys of the plan as last run; nil for experiments stored before schema 2.
    public var planKeys: Set<String>?
}

public struct StoredRun: Sendable {
    public var id: Int64
    public var experiment: String
    public var entry: PlanEntry
    public var record: RunRecord
}

public final class Store {
    public let path: String
    let queue: DatabaseQueue

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(60)
        config.readonly = readOnly
        if !readOnly { config.journalMode = .wal }
        if readOnly && !FileManager.default.fileExists(atPath: path) {
            throw RunnerError.database(path, "no such database; run an experiment first (`exprun experiments/gpt2-random.exp`) or pass --db")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !readOnly && !dir.isEmpty {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        // While another process creates the file and switches it to WAL, SQLite answers SQLITE_BUSY
        // without waiting on the busy handler (seen with two sweeps started at once on a new
        // database): such an open is tried again for up to a minute.
        let deadline = Date().addingTimeInterval(60)
        while true {
            do {
                queue = try Self.open(path: path, configuration: config, readOnly: readOnly)
                break
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            } catch {
                throw Self.explain(error, path: path)
            }
        }
    }

    private static func open(path: String, configuration config: Configuration, readOnly: Bool) throws -> DatabaseQueue {
        if readOnly {
            let queue = try DatabaseQueue(path: path, configuration: config)
            try verifyIntegrity(queue, path: path)
            return queue
        }
        // A writable connection writes as it opens (GRDB creates and drops a table to set up the
        // WAL files), so an existing file is checked through a read-only one first.
        if FileManager.default.fileExists(atPath: path) {
            var check = Configuration()
            check.readonly = true
            check.busyMode = .timeout(60)
            try verifyIntegrity(DatabaseQueue(path: path, configuration: check), path: path)
        }
        let queue = try DatabaseQueue(path: path, configuration: config)
        try Schema.migrate(queue)
        return queue
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    /// Records the spec and its plan's keys under its name (the latest version wins) and returns its id.
    @discardableResult
    public func saveExperiment(_ spec: ExperimentSpec, planKeys: [String]? = nil) throws -> Int64 {
        try saveExperiment(ExperimentRow(spec, planKeys: planKeys), replacing: true)
    }

    /// Records an experiment's row and returns its id; an experiment already stored under its name
    /// is replaced (`replacing`, what running it does) or left as it is (what merging runs made
    /// elsewhere does).
    @discardableResult
    public func saveExperiment(_ e: ExperimentRow, replacing: Bool) throws -> Int64 {
        let charts = String(decoding: try JSONEncoder().encode(e.charts), as: UTF8.self)
        let keys = try e.planKeys.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try queue.writeWithoutTransaction { db in
            var id: Int64 = 0
            try db.inTransaction(.immediate) {
                let now = Self.now()
                try db.execute(sql: """
                    INSERT INTO experiment (name, description, spec_path, spec_text, spec_sha256, weights, baseline, charts, template, created_at, updated_at, plan_keys)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """ + (replacing ? """
                    ON CONFLICT(name) DO UPDATE SET description = excluded.description, spec_path = excluded.spec_path,
                        spec_text = excluded.spec_text, spec_sha256 = excluded.spec_sha256, weights = excluded.weights,
                        baseline = excluded.baseline, charts = excluded.charts, template = excluded.template, updated_at = excluded.updated_at,
                        plan_keys = excluded.plan_keys
                    """ : " ON CONFLICT(name) DO NOTHING"),
                    arguments: [e.name, e.description, e.specPath, e.specText, e.specSHA256, e.weights,
                                e.baseline, charts, e.template, now, now, keys])
                id = try Int64.fetchOne(db, sql: "SELECT id FROM experiment WHERE name = ?", arguments: [e.name]) ?? 0
                return .commit
            }
            return id
        }
    }

    /// Keys of the runs of `experiment` stored as successful (skipped on a re-run).
    public func successfulKeys(experiment: String) throws -> Set<String> {
        try queue.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT run.key FROM run JOIN experiment ON experiment.id = run.experiment_id
                WHERE experiment.name = ? AND run.status = 'ok'
                """, arguments: [experiment]))
        }
    }

    /// `storedRounds` of the database at `path`, read-only; none while the file does not exist or
    /// has no tables yet. Another exprun (a Slurm merge job) may have just created it: SQLite makes
    /// the file before that process's first migration commits, and `exprun status --wait` polling
    /// it then must see nothing stored, not fail on a missing table.
    public static func storedRounds(path: String, experiment: String) throws -> [String: Set<Int>] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let store = try Store(path: path, readOnly: true)
        let version = try store.queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
        return version == 0 ? [:] : try store.storedRounds(experiment: experiment)
    }

    /// Rounds of each run of `experiment` stored as successful, by plan key: what a re-run skips.
    public func storedRounds(experiment: String) throws -> [String: Set<Int>] {
        try queue.read { db in
            var result: [String: Set<Int>] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT run.key, run_round.round FROM run_round JOIN run ON run.id = run_round.run_id
                JOIN experiment ON experiment.id = run.experiment_id
                WHERE experiment.name = ? AND run_round.status = 'ok'
                """, arguments: [experiment]) {
                result[row["key"], default: []].insert(row["round"])
            }
            return result
        }
    }

    /// Stores a whole run measured in one round, replacing any stored run with the same key.
    @discardableResult
    public func saveRun(experimentID: Int64, entry: PlanEntry, record: RunRecord) throws -> Int64 {
        try saveRound(experimentID: experimentID, entry: entry, record: record, replacingRun: true)
    }

    static let memoryColumns = ["memory_source", "rss_before_load", "rss_after_load", "anon_after_load", "file_after_load", "peak_rss",
                                "rss_after_generate", "rss_after_unload", "anon_after_unload", "file_after_unload"]

    static func memoryValues(_ m: MemoryFigures?) -> [(any DatabaseValueConvertible)?] {
        [m?.source, m?.rssBeforeLoad, m?.rssAfterLoad, m?.anonAfterLoad, m?.fileAfterLoad, m?.peakRSS,
         m?.rssAfterGenerate, m?.rssAfterUnload, m?.anonAfterUnload, m?.fileAfterUnload]
    }

    /// Stores one round of a run (`record.round`, nil for 0) in one transaction: the run's row is
    /// created or completed, the round's process, repeats and outputs replace any stored under the
    /// same (key, round), and the run's status, times, load and memory are recomputed over all its
    /// rounds (medians of the successful ones). Quality comes from round 0, which measures it.
    /// `replacingRun` drops the run's other rounds first (a forced re-run starts afresh).
    @discardableResult
    public func saveRound(experimentID: Int64, entry: PlanEntry, record r: RunRecord, replacingRun: Bool = false) throws -> Int64 {
        var entry = entry
        entry.round = nil
        let round = r.round ?? 0
        let plan = String(decoding: try JSONEncoder.record.encode(entry), as: UTF8.self)
        let iso = ISO8601DateFormatter()
        let json: (Encodable?) throws -> String? = { value in
            guard let value else { return nil }
            return String(decoding: try JSONEncoder.record.encode(value), as: UTF8.self)
        }
        let weightArguments: StatementArguments = [r.weights?.bytes, r.weights?.parameters, r.weights?.bitsPerWeight,
                                                   try json(r.weights?.bytesByFormat), try json(r.weights?.notes)]
        let inputArguments: StatementArguments = [try json(r.promptTokens), r.newTokensRequested]
        let q = r.quality
        let qualityArguments: StatementArguments = [q.perplexity, q.klMean, q.klP99, q.topTokenAgreement, q.firstDivergence]
        let repeatRows = try r.repeats.map { rep -> (StatementArguments, StatementArguments) in
            ([rep.index, rep.round, rep.prefillSeconds, rep.prefillTokensPerSecond, rep.decodeTokensPerSecond, rep.timeToFirstToken,
              rep.totalSeconds, rep.newTokens, rep.rssAfter, rep.cpu?.ownSeconds, rep.cpu?.machineBusySeconds, rep.cpu?.stealSeconds,
              rep.cpu?.machineCPUs, rep.bandwidth?.before, rep.bandwidth?.after, rep.bandwidth?.bytes],
             [rep.index, rep.round, rep.text, try json(rep.tokens)])
        }
        let environment = try r.environment.map { e -> StatementArguments in
            [e.cpuModel, e.cpuFlags, e.cores, e.memoryBytes, e.os, e.hostname, e.exprunVersion, e.gitCommit,
             try json(e.modelFiles), e.experimentSHA256, e.slurmJob, e.slurmNode]
        }
        let memoryPlaceholders = Array(repeating: "?", count: Self.memoryColumns.count).joined(separator: ", ")
        return try queue.writeWithoutTransaction { db in
            var runID: Int64 = 0
            try db.inTransaction(.immediate) {
                if replacingRun {
                    try db.execute(sql: "DELETE FROM run WHERE experiment_id = ? AND key = ?", arguments: [experimentID, entry.key])
                }
                let identity: StatementArguments = [entry.model, entry.loaderReference, entry.weights.rawValue, entry.label, entry.threads,
                                                    entry.prompt, plan]
                if let id = try Int64.fetchOne(db, sql: "SELECT id FROM run WHERE experiment_id = ? AND key = ?", arguments: [experimentID, entry.key]) {
                    runID = id
                    try db.execute(sql: """
                        UPDATE run SET model = ?, loader_reference = ?, weights = ?, quantization = ?, threads = ?, prompt = ?, plan_json = ?
                        WHERE id = ?
                        """, arguments: identity + [id])
                } else {
                    try db.execute(sql: """
                        INSERT INTO run (experiment_id, key, status, model, loader_reference, weights, quantization, threads, prompt,
                            plan_json, started_at, finished_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [experimentID, entry.key, r.status.rawValue] + identity
                            + [iso.string(from: r.startedAt), iso.string(from: r.finishedAt)])
                    runID = db.lastInsertedRowID
                }
                // What does not change from round to round: kept from whichever round measured it.
                if r.weights != nil {
                    try db.execute(sql: """
                        UPDATE run SET weight_bytes = ?, parameters = ?, bits_per_weight = ?, bytes_by_format = ?, weight_notes = ? WHERE id = ?
                        """, arguments: weightArguments + [runID])
                }
                if let c = r.calibration {
                    try db.execute(sql: "UPDATE run SET calibration = ? WHERE id = ?", arguments: [try json(c), runID])
                }
                if r.promptTokens != nil {
                    try db.execute(sql: "UPDATE run SET prompt_tokens = ?, new_tokens_requested = ? WHERE id = ?", arguments: inputArguments + [runID])
                }
                if round == 0 {
                    try db.execute(sql: """
                        UPDATE run SET perplexity = ?, kl_mean = ?, kl_p99 = ?, top_token_agreement = ?, first_divergence = ? WHERE id = ?
                        """, arguments: qualityArguments + [runID])
                }

                for table in ["run_round", "measurement", "output"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE run_id = ? AND round = ?", arguments: [runID, round])
                }
                try db.execute(sql: """
                    INSERT INTO run_round (run_id, round, status, error, stderr_tail, started_at, finished_at, load_seconds, slurm_job, slurm_node,
                        \(Self.memoryColumns.joined(separator: ", ")))
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \(memoryPlaceholders))
                    """, arguments: StatementArguments([runID, round, r.status.rawValue, r.error, r.stderrTail, iso.string(from: r.startedAt),
                                                        iso.string(from: r.finishedAt), r.loadSeconds, r.environment?.slurmJob, r.environment?.slurmNode]
                                                       + Self.memoryValues(r.memory)))
                if let encoder = r.encoder {
                    try db.execute(sql: "UPDATE run_round SET encoder = ? WHERE run_id = ? AND round = ?", arguments: [try json(encoder), runID, round])
                }
                for (measurement, output) in repeatRows {
                    try db.execute(sql: """
                        INSERT INTO measurement (run_id, repeat, round, prefill_seconds, prefill_tokens_per_second, decode_tokens_per_second,
                            time_to_first_token, total_seconds, new_tokens, rss_after, cpu_seconds, machine_busy_seconds, steal_seconds, machine_cpus,
                            bandwidth_before, bandwidth_after, bandwidth_bytes)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [runID] + measurement)
                    try db.execute(sql: "INSERT INTO output (run_id, repeat, round, text, token_ids) VALUES (?, ?, ?, ?, ?)", arguments: [runID] + output)
                }
                if let environment {
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO environment (run_id, cpu_model, cpu_flags, cores, memory_bytes, os, hostname,
                            exprun_version, git_commit, model_files, experiment_sha256, slurm_job, slurm_node)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [runID] + environment)
                }
                try Self.summarizeRounds(db, runID: runID)
                try db.execute(sql: "UPDATE experiment SET updated_at = ? WHERE id = ?", arguments: [Self.now(), experimentID])
                return .commit
            }
            return runID
        }
    }

    /// The run's own status, error, times, load and memory from its stored rounds: ok while every
    /// stored round is; load and memory the medians over the successful rounds.
    static func summarizeRounds(_ db: Database, runID: Int64) throws {
        let rounds = try Row.fetchAll(db, sql: "SELECT * FROM run_round WHERE run_id = ? ORDER BY round", arguments: [runID]).map(roundRecord)
        let ok = rounds.filter { $0.status == .ok }
        let failed = rounds.first { $0.status != .ok }
        let iso = ISO8601DateFormatter()
        let loads = ok.compactMap(\.loadSeconds).sorted()
        let several = rounds.count > 1
        let error = failed.map { f in (several ? "round \(f.round + 1): " : "") + (f.error ?? "failed") }
        let tail: String? = failed == nil ? nil : try String.fetchOne(db, sql: "SELECT stderr_tail FROM run_round WHERE run_id = ? AND round = ?",
                                                                      arguments: [runID, failed?.round])
        let started = rounds.map(\.startedAt).min(), finished = rounds.map(\.finishedAt).max()
        let memory = MemoryFigures.median(ok.compactMap(\.memory)) ?? failed?.memory
        try db.execute(sql: """
            UPDATE run SET status = ?, error = ?, stderr_tail = ?, started_at = ?, finished_at = ?, load_seconds = ?,
                \(memoryColumns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?
            """, arguments: StatementArguments([failed == nil ? "ok" : "failed", error, tail, started.map(iso.string(from:)),
                                                finished.map(iso.string(from:)), loads.isEmpty ? failed?.loadSeconds : loads[(loads.count - 1) / 2]]
                                               + memoryValues(memory) + [runID]))
    }

    static func memory(_ row: Row) -> MemoryFigures? {
        guard let source: String = row["memory_source"] else { return nil }
        var m = MemoryFigures(source: source)
        m.rssBeforeLoad = row["rss_before_load"]; m.rssAfterLoad = row["rss_after_load"]
        m.anonAfterLoad = row["anon_after_load"]; m.fileAfterLoad = row["file_after_load"]
        m.peakRSS = row["peak_rss"]; m.rssAfterGenerate = row["rss_after_generate"]
        m.rssAfterUnload = row["rss_after_unload"]; m.anonAfterUnload = row["anon_after_unload"]
        m.fileAfterUnload = row["file_after_unload"]
        return m
    }

    static func roundRecord(_ row: Row) -> RoundRecord {
        let iso = ISO8601DateFormatter()
        return RoundRecord(round: row["round"], status: RunRecord.Status(rawValue: row["status"]) ?? .failed, error: row["error"],
                           startedAt: iso.date(from: row["started_at"]) ?? Date(timeIntervalSince1970: 0),
                           finishedAt: iso.date(from: row["finished_at"]) ?? Date(timeIntervalSince1970: 0),
                           loadSeconds: row["load_seconds"], memory: memory(row), slurmJob: row["slurm_job"], slurmNode: row["slurm_node"])
    }

    // MARK: reading

    public func experiments() throws -> [StoredExperiment] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT experiment.*, COUNT(run.id) AS run_count, SUM(run.status != 'ok') AS failed_count
                FROM experiment LEFT JOIN run ON run.experiment_id = experiment.id
                GROUP BY experiment.id ORDER BY experiment.updated_at DESC, experiment.id DESC
                """).map(Self.experiment)
        }
    }

    public func experiment(named name: String) throws -> StoredExperiment? {
        try experiments().first { $0.name == name }
    }

    static func experiment(_ row: Row) -> StoredExperiment {
        let chartsText: String = row["charts"] ?? "[]"
        let charts = (try? JSONDecoder().decode([String].self, from: Data(chartsText.utf8))) ?? []
        let keysText: String? = row["plan_keys"]
        let keys = keysText.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }.map(Set.init)
        return StoredExperiment(id: row["id"], name: row["name"], description: row["description"], specPath: row["spec_path"],
                                specText: row["spec_text"], weights: row["weights"], baseline: row["baseline"], charts: charts,
                                template: row["template"], createdAt: row["created_at"], updatedAt: row["updated_at"],
                                runCount: row["run_count"] ?? 0, failedCount: row["failed_count"] ?? 0, planKeys: keys)
    }

    /// Runs of an experiment in plan order (by id), or all runs newest first when `experiment` is nil.
    public func runs(experiment: String? = nil, limit: Int? = nil) throws -> [StoredRun] {
        try queue.read { db in
            var sql = "SELECT run.*, experiment.name AS experiment_name FROM run JOIN experiment ON experiment.id = run.experiment_id"
            var args: StatementArguments = []
            if let experiment { sql += " WHERE experiment.name = ? ORDER BY run.id"; args = [experiment] } else { sql += " ORDER BY run.finished_at DESC, run.id DESC" }
            if let limit { sql += " LIMIT \(limit)" }
            return try Row.fetchAll(db, sql: sql, arguments: args).map { try Self.run($0, db) }
        }
    }

    public func run(id: Int64) throws -> StoredRun? {
        try queue.read { db in
            try Row.fetchOne(db, sql: """
                SELECT run.*, experiment.name AS experiment_name FROM run JOIN experiment ON experiment.id = run.experiment_id
                WHERE run.id = ?
                """, arguments: [id]).map { try Self.run($0, db) }
        }
    }

    /// A round's encoder figures (run_round.encoder), nil for a decoder's round.
    static func encoderFigures(_ row: Row) -> EncoderFigures? {
        (row["encoder"] as String?).flatMap { try? JSONDecoder.record.decode(EncoderFigures.self, from: Data($0.utf8)) }
    }

    static func run(_ row: Row, _ db: Database) throws -> StoredRun {
        let iso = ISO8601DateFormatter()
        let id: Int64 = row["id"]
        let planText: String = row["plan_json"]
        let entry = try JSONDecoder.record.decode(PlanEntry.self, from: Data(planText.utf8))
        var r = RunRecord(key: row["key"], status: RunRecord.Status(rawValue: row["status"]) ?? .failed,
                          startedAt: iso.date(from: row["started_at"]) ?? Date(timeIntervalSince1970: 0),
                          finishedAt: iso.date(from: row["finished_at"]) ?? Date(timeIntervalSince1970: 0))
        r.error = row["error"]
        r.stderrTail = row["stderr_tail"]
        if let bytes: Int = row["weight_bytes"] {
            let formats: String = row["bytes_by_format"] ?? "{}"
            r.weights = WeightSummary(bytes: bytes, parameters: row["parameters"] ?? 0, bitsPerWeight: row["bits_per_weight"] ?? 0,
                                      bytesByFormat: (try? JSONDecoder().decode([String: Int].self, from: Data(formats.utf8))) ?? [:],
                                      notes: (try? JSONDecoder().decode([String].self, from: Data((row["weight_notes"] ?? "[]").utf8))) ?? [])
        }
        r.loadSeconds = row["load_seconds"]
        if let c: String = row["calibration"] { r.calibration = try? JSONDecoder.record.decode(CalibrationRecord.self, from: Data(c.utf8)) }
        r.memory = memory(row)
        let roundRows = try Row.fetchAll(db, sql: "SELECT * FROM run_round WHERE run_id = ? ORDER BY round", arguments: [id])
        r.rounds = roundRows.map(roundRecord)
        r.encoder = EncoderFigures.merged(roundRows.compactMap(encoderFigures))
        if let tokens: String = row["prompt_tokens"] { r.promptTokens = try? JSONDecoder().decode([Int].self, from: Data(tokens.utf8)) }
        r.newTokensRequested = row["new_tokens_requested"]
        r.quality.perplexity = row["perplexity"]; r.quality.klMean = row["kl_mean"]; r.quality.klP99 = row["kl_p99"]
        r.quality.topTokenAgreement = row["top_token_agreement"]; r.quality.firstDivergence = row["first_divergence"]
        let outputs = try Row.fetchAll(db, sql: "SELECT * FROM output WHERE run_id = ?", arguments: [id])
        var byRepeat: [Int: Row] = [:]
        for o in outputs { byRepeat[o["repeat"]] = o }
        r.repeats = try Row.fetchAll(db, sql: "SELECT * FROM measurement WHERE run_id = ? ORDER BY repeat", arguments: [id]).map { m in
            let index: Int = m["repeat"]
            let tokensText: String = byRepeat[index]?["token_ids"] ?? "[]"
            let own: Double? = m["cpu_seconds"]
            return RepeatRecord(index: index, round: m["round"], prefillSeconds: m["prefill_seconds"], prefillTokensPerSecond: m["prefill_tokens_per_second"],
                                decodeTokensPerSecond: m["decode_tokens_per_second"], timeToFirstToken: m["time_to_first_token"],
                                totalSeconds: m["total_seconds"], newTokens: m["new_tokens"],
                                tokens: (try? JSONDecoder().decode([Int].self, from: Data(tokensText.utf8))) ?? [],
                                text: byRepeat[index]?["text"], rssAfter: m["rss_after"],
                                cpu: own.map { CPUUsage(ownSeconds: $0, machineBusySeconds: m["machine_busy_seconds"],
                                                        stealSeconds: m["steal_seconds"], machineCPUs: m["machine_cpus"]) },
                                bandwidth: Self.bandwidth(m))
        }
        if let e = try Row.fetchOne(db, sql: "SELECT * FROM environment WHERE run_id = ?", arguments: [id]) {
            let files: String = e["model_files"] ?? "{}"
            r.environment = EnvironmentRecord(
                cpuModel: e["cpu_model"], cpuFlags: e["cpu_flags"], cores: e["cores"], memoryBytes: e["memory_bytes"], os: e["os"],
                hostname: e["hostname"], exprunVersion: e["exprun_version"], gitCommit: e["git_commit"],
                modelFiles: (try? JSONDecoder().decode([String: String].self, from: Data(files.utf8))) ?? [:],
                experimentSHA256: e["experiment_sha256"], slurmJob: e["slurm_job"], slurmNode: e["slurm_node"])
        }
        return StoredRun(id: id, experiment: row["experiment_name"], entry: entry, record: r)
    }

    static func bandwidth(_ m: Row) -> RepeatBandwidth? {
        guard let before: Double = m["bandwidth_before"], let after: Double = m["bandwidth_after"] else { return nil }
        return RepeatBandwidth(before: before, after: after, bytes: m["bandwidth_bytes"] ?? 0)
    }
}
