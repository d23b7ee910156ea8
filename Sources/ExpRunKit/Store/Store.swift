// The run database (SQLite through GRDB): open with WAL and a busy timeout so several exprun
// processes can write one file at once, store each run in one transaction, and read back what
// reports and browsing need. A run is identified by (experiment, plan key): storing a key again
// (after a failure, or with --force) replaces the old row, so there is never a duplicate.
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
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            if !readOnly { try Schema.migrate(queue) }
        } catch let error as DatabaseError {
            throw RunnerError.database(path, "cannot be opened as an exprun database: \(error.message ?? "\(error)")")
        }
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    /// Records the spec and its plan's keys under its name (the latest version wins) and returns its id.
    @discardableResult
    public func saveExperiment(_ spec: ExperimentSpec, planKeys: [String]? = nil) throws -> Int64 {
        let charts = String(decoding: try JSONEncoder().encode(spec.report.charts), as: UTF8.self)
        let keys = try planKeys.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try queue.writeWithoutTransaction { db in
            var id: Int64 = 0
            try db.inTransaction(.immediate) {
                let now = Self.now()
                try db.execute(sql: """
                    INSERT INTO experiment (name, description, spec_path, spec_text, spec_sha256, weights, baseline, charts, template, created_at, updated_at, plan_keys)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET description = excluded.description, spec_path = excluded.spec_path,
                        spec_text = excluded.spec_text, spec_sha256 = excluded.spec_sha256, weights = excluded.weights,
                        baseline = excluded.baseline, charts = excluded.charts, template = excluded.template, updated_at = excluded.updated_at,
                        plan_keys = excluded.plan_keys
                    """, arguments: [spec.name, spec.description, spec.path, spec.text, SHA256.hex(spec.text), spec.weights.rawValue,
                                     spec.measure.baseline, charts, spec.report.template, now, now, keys])
                id = try Int64.fetchOne(db, sql: "SELECT id FROM experiment WHERE name = ?", arguments: [spec.name]) ?? 0
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

    /// Stores one run, its repeats, outputs and environment in one transaction, replacing a
    /// stored run with the same key.
    @discardableResult
    public func saveRun(experimentID: Int64, entry: PlanEntry, record r: RunRecord) throws -> Int64 {
        let plan = String(decoding: try JSONEncoder.record.encode(entry), as: UTF8.self)
        let iso = ISO8601DateFormatter()
        let json: (Encodable?) throws -> String? = { value in
            guard let value else { return nil }
            return String(decoding: try JSONEncoder.record.encode(value), as: UTF8.self)
        }
        let byFormat = try json(r.weights?.bytesByFormat)
        let promptTokens = try json(r.promptTokens)
        let m = r.memory
        let runArguments: StatementArguments = [
            experimentID, entry.key, r.status.rawValue, r.error, r.stderrTail, entry.model, entry.loaderReference,
            entry.weights.rawValue, entry.label, entry.threads, entry.prompt, plan,
            iso.string(from: r.startedAt), iso.string(from: r.finishedAt),
            r.weights?.bytes, r.weights?.parameters, r.weights?.bitsPerWeight, byFormat, r.loadSeconds,
            m?.source, m?.rssBeforeLoad, m?.rssAfterLoad, m?.anonAfterLoad, m?.fileAfterLoad, m?.peakRSS,
            m?.rssAfterGenerate, m?.rssAfterUnload, m?.anonAfterUnload, m?.fileAfterUnload,
            promptTokens, r.newTokensRequested,
            r.quality.perplexity, r.quality.klMean, r.quality.klP99, r.quality.topTokenAgreement, r.quality.firstDivergence,
            try json(r.weights?.notes),
        ]
        return try queue.writeWithoutTransaction { db in
            var runID: Int64 = 0
            try db.inTransaction(.immediate) {
                try db.execute(sql: "DELETE FROM run WHERE experiment_id = ? AND key = ?", arguments: [experimentID, entry.key])
                try db.execute(sql: """
                    INSERT INTO run (experiment_id, key, status, error, stderr_tail, model, loader_reference, weights,
                        quantization, threads, prompt, plan_json, started_at, finished_at,
                        weight_bytes, parameters, bits_per_weight, bytes_by_format, load_seconds,
                        memory_source, rss_before_load, rss_after_load, anon_after_load, file_after_load, peak_rss,
                        rss_after_generate, rss_after_unload, anon_after_unload, file_after_unload,
                        prompt_tokens, new_tokens_requested,
                        perplexity, kl_mean, kl_p99, top_token_agreement, first_divergence, weight_notes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: runArguments)
                runID = db.lastInsertedRowID
                if let encoder = r.encoder {
                    try db.execute(sql: "UPDATE run SET encoder = ? WHERE id = ?", arguments: [try json(encoder), runID])
                }
                for rep in r.repeats {
                    try db.execute(sql: """
                        INSERT INTO measurement (run_id, repeat, prefill_seconds, prefill_tokens_per_second,
                            decode_tokens_per_second, time_to_first_token, total_seconds, new_tokens, rss_after)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [runID, rep.index, rep.prefillSeconds, rep.prefillTokensPerSecond,
                                         rep.decodeTokensPerSecond, rep.timeToFirstToken, rep.totalSeconds, rep.newTokens, rep.rssAfter])
                    try db.execute(sql: "INSERT INTO output (run_id, repeat, text, token_ids) VALUES (?, ?, ?, ?)",
                                   arguments: [runID, rep.index, rep.text, try json(rep.tokens)])
                }
                if let e = r.environment {
                    try db.execute(sql: """
                        INSERT INTO environment (run_id, cpu_model, cpu_flags, cores, memory_bytes, os, hostname,
                            exprun_version, git_commit, model_files, experiment_sha256)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [runID, e.cpuModel, e.cpuFlags, e.cores, e.memoryBytes, e.os, e.hostname,
                                         e.exprunVersion, e.gitCommit, try json(e.modelFiles), e.experimentSHA256])
                }
                try db.execute(sql: "UPDATE experiment SET updated_at = ? WHERE id = ?", arguments: [Self.now(), experimentID])
                return .commit
            }
            return runID
        }
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
        if let source: String = row["memory_source"] {
            var m = MemoryFigures(source: source)
            m.rssBeforeLoad = row["rss_before_load"]; m.rssAfterLoad = row["rss_after_load"]
            m.anonAfterLoad = row["anon_after_load"]; m.fileAfterLoad = row["file_after_load"]
            m.peakRSS = row["peak_rss"]; m.rssAfterGenerate = row["rss_after_generate"]
            m.rssAfterUnload = row["rss_after_unload"]; m.anonAfterUnload = row["anon_after_unload"]
            m.fileAfterUnload = row["file_after_unload"]
            r.memory = m
        }
        if let tokens: String = row["prompt_tokens"] { r.promptTokens = try? JSONDecoder().decode([Int].self, from: Data(tokens.utf8)) }
        r.newTokensRequested = row["new_tokens_requested"]
        r.quality.perplexity = row["perplexity"]; r.quality.klMean = row["kl_mean"]; r.quality.klP99 = row["kl_p99"]
        r.quality.topTokenAgreement = row["top_token_agreement"]; r.quality.firstDivergence = row["first_divergence"]
        if let encoder: String = row["encoder"] { r.encoder = try? JSONDecoder.record.decode(EncoderFigures.self, from: Data(encoder.utf8)) }
        let outputs = try Row.fetchAll(db, sql: "SELECT * FROM output WHERE run_id = ?", arguments: [id])
        var byRepeat: [Int: Row] = [:]
        for o in outputs { byRepeat[o["repeat"]] = o }
        r.repeats = try Row.fetchAll(db, sql: "SELECT * FROM measurement WHERE run_id = ? ORDER BY repeat", arguments: [id]).map { m in
            let index: Int = m["repeat"]
            let tokensText: String = byRepeat[index]?["token_ids"] ?? "[]"
            return RepeatRecord(index: index, prefillSeconds: m["prefill_seconds"], prefillTokensPerSecond: m["prefill_tokens_per_second"],
                                decodeTokensPerSecond: m["decode_tokens_per_second"], timeToFirstToken: m["time_to_first_token"],
                                totalSeconds: m["total_seconds"], newTokens: m["new_tokens"],
                                tokens: (try? JSONDecoder().decode([Int].self, from: Data(tokensText.utf8))) ?? [],
                                text: byRepeat[index]?["text"], rssAfter: m["rss_after"])
        }
        if let e = try Row.fetchOne(db, sql: "SELECT * FROM environment WHERE run_id = ?", arguments: [id]) {
            let files: String = e["model_files"] ?? "{}"
            r.environment = EnvironmentRecord(
                cpuModel: e["cpu_model"], cpuFlags: e["cpu_flags"], cores: e["cores"], memoryBytes: e["memory_bytes"], os: e["os"],
                hostname: e["hostname"], exprunVersion: e["exprun_version"], gitCommit: e["git_commit"],
                modelFiles: (try? JSONDecoder().decode([String: String].self, from: Data(files.utf8))) ?? [:],
                experimentSHA256: e["experiment_sha256"])
        }
        return StoredRun(id: id, experiment: row["experiment_name"], entry: entry, record: r)
    }
}
