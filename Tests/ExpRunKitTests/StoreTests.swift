// The store: what goes in comes back out, a key stored twice is one run, the schema is
// migrated once, a read-only open of a missing database says what to do, and one another process
// is creating reads as empty.
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

@Suite struct StoreTests {
    func spec() throws -> ExperimentSpec {
        try SpecParser.parse(text: "name: s\nmodel: gpt2\nprompts: [hi, there]\n", path: "/tmp/s.exp")
    }

    func record(_ entry: PlanEntry, status: RunRecord.Status, decode: [Double]) -> RunRecord {
        var r = RunRecord(key: entry.key, status: status, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                          finishedAt: Date(timeIntervalSince1970: 1_700_000_010))
        r.weights = WeightSummary(bytes: 1000, parameters: 250, bitsPerWeight: 32, bytesByFormat: ["fp32": 1000])
        var m = MemoryFigures(source: "proc")
        m.rssAfterLoad = 5000; m.peakRSS = 7000; m.rssAfterUnload = 3000; m.anonAfterLoad = 4000; m.fileAfterLoad = 1000
        r.memory = m
        r.loadSeconds = 0.25
        r.promptTokens = [1, 2, 3]
        r.newTokensRequested = 4
        r.repeats = decode.enumerated().map {
            RepeatRecord(index: $0, prefillSeconds: 0.01, prefillTokensPerSecond: 300, decodeTokensPerSecond: $1,
                         timeToFirstToken: 0.01, totalSeconds: 0.05, newTokens: 4, tokens: [5, 6, 7, 8], text: "a|b\nc", rssAfter: 6000)
        }
        r.environment = EnvironmentRecord(cpuModel: "cpu", cpuFlags: "avx2", cores: 2, memoryBytes: 1 << 30, os: "os", hostname: "h",
                                          exprunVersion: "1", gitCommit: nil, modelFiles: ["m": "ab"], experimentSHA256: "cd")
        return r
    }

    @Test func roundTripAndReplaceByKey() throws {
        let dir = TestPaths.temporaryDirectory()
        let store = try Store(path: dir + "/db/x.sqlite")
        let spec = try spec()
        let plan = Plan(spec: spec, version: "1")
        let id = try store.saveExperiment(spec)
        try store.saveRun(experimentID: id, entry: plan.entries[0], record: record(plan.entries[0], status: .failed, decode: []))
        #expect(try store.successfulKeys(experiment: "s").isEmpty)
        let original = record(plan.entries[0], status: .ok, decode: [10, 12, 11])
        let runID = try store.saveRun(experimentID: id, entry: plan.entries[0], record: original)
        try store.saveRun(experimentID: id, entry: plan.entries[1], record: record(plan.entries[1], status: .ok, decode: [9]))
        #expect(try store.runs(experiment: "s").count == 2)
        #expect(try store.successfulKeys(experiment: "s") == Set(plan.entries.map(\.key)))

        let back = try #require(try store.run(id: runID))
        #expect(back.entry == plan.entries[0])
        #expect(back.record.repeats == original.repeats)
        #expect(back.record.memory == original.memory)
        #expect(back.record.weights == original.weights)
        #expect(back.record.environment == original.environment)
        #expect(back.record.promptTokens == [1, 2, 3])
        #expect(back.record.startedAt == original.startedAt)
        #expect(back.record.quality == QualityFigures())

        // Saving the same experiment again keeps one row; reopening migrates nothing twice.
        try store.saveExperiment(spec)
        let reopened = try Store(path: dir + "/db/x.sqlite")
        #expect(try reopened.experiments().count == 1)
        #expect(try reopened.experiments().first?.runCount == 2)
    }

    @Test func aSchemaOneDatabaseIsMigratedAndKeepsItsRuns() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir + "/old.sqlite"
        let old = try DatabaseQueue(path: path)
        try old.write { db in
            try db.execute(sql: Schema.migrations[0])
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        let spec = try spec()
        let plan = Plan(spec: spec, version: "1")
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO experiment (name, spec_path, spec_text, spec_sha256, weights, charts, created_at, updated_at)
                VALUES ('s', '/tmp/s.exp', '', '', 'pretrained', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')
                """)
        }
        try old.close()
        let store = try Store(path: path)
        #expect(try store.queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.migrations.count)
        let experiment = try #require(try store.experiment(named: "s"))
        #expect(experiment.planKeys == nil)
        try store.saveRun(experimentID: experiment.id, entry: plan.entries[0], record: record(plan.entries[0], status: .ok, decode: [1]))
        #expect(try store.runs(experiment: "s").count == 1)
    }

    @Test func theReportShowsTheCurrentPlansRunsAndCountsTheOlderOnes() throws {
        let dir = TestPaths.temporaryDirectory()
        let store = try Store(path: dir + "/exprun.sqlite")
        let spec = try spec()
        let plan = Plan(spec: spec, version: "1")
        let id = try store.saveExperiment(spec, planKeys: plan.entries.map(\.key))
        for e in plan.entries { try store.saveRun(experimentID: id, entry: e, record: record(e, status: .ok, decode: [5, 6])) }
        // The file now has one prompt: the other prompt's run is older history.
        try store.saveExperiment(spec, planKeys: [plan.entries[0].key])
        let text = try String(contentsOfFile: try ExperimentReport.write(experiment: "s", store: store, resultsDirectory: dir), encoding: .utf8)
        #expect(text.contains("1 run(s) of this experiment made with earlier settings"))
        #expect(!text.contains("prompt 2"))
    }

    /// `exprun status --wait` polls a database that the Slurm merge job may be creating: SQLite has
    /// made the file, the first migration has not committed, so there are no tables yet.
    @Test func aDatabaseBeingCreatedHasNoStoredRoundsYet() throws {
        let path = TestPaths.temporaryDirectory() + "/new.sqlite"
        #expect(try Store.storedRounds(path: path, experiment: "s").isEmpty)
        let creating = try DatabaseQueue(path: path)
        try creating.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
        #expect(throws: (any Error).self) { try Store(path: path, readOnly: true).storedRounds(experiment: "s") }
        #expect(try Store.storedRounds(path: path, experiment: "s").isEmpty)
        try creating.close()

        let store = try Store(path: path)
        let spec = try spec()
        let entry = Plan(spec: spec, version: "1").entries[0]
        try store.saveRun(experimentID: try store.saveExperiment(spec), entry: entry, record: record(entry, status: .ok, decode: [10, 12, 11]))
        #expect(try Store.storedRounds(path: path, experiment: "s") == [entry.key: [0]])
    }

    @Test func readOnlyOpenOfAMissingDatabaseExplains() {
        #expect(throws: RunnerError.self) { try Store(path: "/nonexistent/exprun.sqlite", readOnly: true) }
    }

    @Test func reportTablesCarryTheStoredMedians() throws {
        let dir = TestPaths.temporaryDirectory()
        let store = try Store(path: dir + "/exprun.sqlite")
        let spec = try spec()
        let plan = Plan(spec: spec, version: "1")
        let id = try store.saveExperiment(spec)
        try store.saveRun(experimentID: id, entry: plan.entries[0], record: record(plan.entries[0], status: .ok, decode: [10, 14, 11]))
        let path = try ExperimentReport.write(experiment: "s", store: store, resultsDirectory: dir)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("| 11.0 (10.0–14.0) |"))        // decode median (min–max)
        #expect(text.contains("a\\|b⏎c"))                      // a pipe and a newline cannot break the table
        #expect(FileManager.default.fileExists(atPath: dir + "/s/memory.svg"))
        #expect(throws: RunnerError.self) { try ExperimentReport.write(experiment: "t", store: store, resultsDirectory: dir) }
    }
}
