// Interleaved rounds: `measure.rounds` in the experiment file, how a plan shares its repeats among
// rounds and rotates its order, and how the store keeps each (run, round) once — replaced, never
// duplicated, when stored again — with the run's own figures recomputed over its rounds.
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

@Suite struct RoundsTests {
    let base = "name: r\nmodel: gpt2\nquantizations: [fp32, q8_0, q4_0]\nprompts: [a, b]\n"

    func spec(_ measure: String) throws -> ExperimentSpec {
        try SpecParser.parse(text: base + "measure: {\(measure)}\n", path: "/tmp/r.exp")
    }

    @Test func roundsDefaultToThreeWhenThereAreThreeRepeatsAndAreChecked() throws {
        #expect(try spec("repeats: 5").measure.roundCount == 3)
        #expect(try spec("repeats: 2").measure.roundCount == 1)
        #expect(try spec("repeats: 6, rounds: 2").measure.roundCount == 2)
        #expect(try spec("repeats: 6, rounds: 1").measure.roundCount == 1)
        do {
            _ = try spec("repeats: 2, rounds: 3")
            Issue.record("3 rounds of 2 repeats were accepted")
        } catch let e as SpecError {
            #expect(e.problems.count == 1 && e.problems[0].path == "measure.rounds" && e.problems[0].line == 5)
            #expect(e.description.contains("raise measure.repeats to 3"))
        }
        #expect(throws: SpecError.self) { try spec("repeats: 3, rounds: 0") }
    }

    @Test func repeatsAreSharedAmongRoundsAndNumberedAcrossThem() throws {
        let plan = Plan(spec: try spec("repeats: 5"), version: "1")
        let e = plan.entries[0]
        #expect((0..<3).map { e.repeatIndices(round: $0) } == [0..<2, 2..<4, 4..<5])
        let seven = Plan(spec: try spec("repeats: 7, rounds: 7"), version: "1").entries[0]
        #expect((0..<7).flatMap { Array(seven.repeatIndices(round: $0)) } == Array(0..<7))
    }

    @Test func everyRoundRunsEveryEntryOnceInARotatedOrder() throws {
        let plan = Plan(spec: try spec("repeats: 3"), version: "1")       // 6 entries, 3 rounds
        let schedule = plan.schedule
        #expect(schedule.count == 18)
        for round in 0..<3 {
            let order = schedule.filter { $0.round == round }.map(\.entry)
            #expect(Set(order).count == 6)
            #expect(order.first == round * 2)                               // starts a third further on each round
        }
        // Each entry's three runs sit at different places in their rounds.
        for entry in 0..<6 {
            let places = (0..<3).map { r in schedule.filter { $0.round == r }.firstIndex { $0.entry == entry }! }
            #expect(Set(places).count == 3)
        }
    }

    @Test func oneRoundKeepsTheKeysOfRunsPlannedBeforeRoundsExisted() throws {
        let one = Plan(spec: try spec("repeats: 3, rounds: 1"), version: "1").entries[0]
        let three = Plan(spec: try spec("repeats: 3"), version: "1").entries[0]
        let withoutRounds = PlanEntry.KeyContent(model: one.model, weights: one.weights.rawValue, quantization: one.label, threads: one.threads,
                                                 prompt: one.prompt, generate: one.generate, repeats: 3, rounds: nil, warmup: one.warmup,
                                                 perplexity: one.perplexity, baseline: one.baseline?.description, version: "1")
        #expect(one.key == PlanEntry.key(of: withoutRounds))
        #expect(three.key != one.key)
        // The child's round is not part of what the run is.
        var child = three
        child.round = 2
        #expect(child.key == three.key)
    }

    func record(_ key: String, round: Int, status: RunRecord.Status = .ok, peak: Int, load: Double, decode: [Double]) -> RunRecord {
        var r = RunRecord(key: key, status: status, startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(round) * 100),
                          finishedAt: Date(timeIntervalSince1970: 1_700_000_010 + Double(round) * 100))
        r.round = round
        r.weights = WeightSummary(bytes: 1000, parameters: 250, bitsPerWeight: 32, bytesByFormat: ["fp32": 1000])
        var m = MemoryFigures(source: "proc")
        m.peakRSS = peak; m.rssAfterLoad = peak - 100
        r.memory = m
        r.loadSeconds = load
        r.repeats = decode.enumerated().map {
            RepeatRecord(index: round * 10 + $0, round: round, prefillSeconds: 0.01, prefillTokensPerSecond: 300, decodeTokensPerSecond: $1,
                         timeToFirstToken: 0.01, totalSeconds: 0.05, newTokens: 4, tokens: [1], text: "x", rssAfter: nil,
                         cpu: CPUUsage(ownSeconds: 0.1, machineBusySeconds: 0.1, stealSeconds: 0, machineCPUs: 2))
        }
        if round == 0 { r.quality.klMean = 0.5 }
        if status == .failed { r.error = "boom"; r.repeats = [] }
        return r
    }

    @Test func aRoundStoredTwiceIsOneRoundAndTheRunSummarizesItsRounds() throws {
        let dir = TestPaths.temporaryDirectory()
        let store = try Store(path: dir + "/x.sqlite")
        let spec = try spec("repeats: 6")
        let entry = Plan(spec: spec, version: "1").entries[0]
        let id = try store.saveExperiment(spec)
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 0, peak: 1000, load: 1, decode: [10, 11]))
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 1, peak: 1200, load: 3, decode: [12, 13]))
        // Round 1 again (a shard imported twice, or a resumed run): replaced, not added.
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 1, peak: 1100, load: 2, decode: [14, 15]))
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 2, peak: 1050, load: 5, decode: [16, 17]))
        #expect(try store.storedRounds(experiment: "r") == [entry.key: [0, 1, 2]])
        let runs = try store.runs(experiment: "r")
        #expect(runs.count == 1)
        let run = try #require(runs.first)
        #expect(run.record.rounds.map(\.round) == [0, 1, 2])
        #expect(run.record.repeats.map(\.decodeTokensPerSecond) == [10, 11, 14, 15, 16, 17])
        #expect(run.record.repeats.map(\.round) == [0, 0, 1, 1, 2, 2])
        #expect(run.record.repeats[2].cpu == CPUUsage(ownSeconds: 0.1, machineBusySeconds: 0.1, stealSeconds: 0, machineCPUs: 2))
        #expect(run.record.memory?.peakRSS == 1050)                          // median of 1000, 1100, 1050
        #expect(run.record.loadSeconds == 2)
        #expect(run.record.quality.klMean == 0.5)                             // from round 0
        #expect(run.record.status == .ok)
        #expect(run.record.startedAt == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(run.record.finishedAt == Date(timeIntervalSince1970: 1_700_000_210))
        let rows = try store.queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM measurement") }
        #expect(rows == 6)

        // A failed round makes the run failed, naming the round; the others stay.
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 2, status: .failed, peak: 0, load: 0, decode: []))
        let failed = try #require(try store.runs(experiment: "r").first)
        #expect(failed.record.status == .failed && failed.record.error == "round 3: boom")
        #expect(try store.storedRounds(experiment: "r") == [entry.key: [0, 1]])
        #expect(failed.record.memory?.peakRSS == 1000)                        // lower middle of the two good rounds

        // --force: the first round measured again replaces the whole run.
        try store.saveRound(experimentID: id, entry: entry, record: record(entry.key, round: 0, peak: 900, load: 1, decode: [20]), replacingRun: true)
        let fresh = try #require(try store.runs(experiment: "r").first)
        #expect(fresh.record.rounds.map(\.round) == [0] && fresh.record.repeats.count == 1 && fresh.record.status == .ok)
    }

    @Test func runsStoredBeforeRoundsBecomeRoundZero() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir + "/old.sqlite"
        let old = try DatabaseQueue(path: path)
        try old.write { db in
            for sql in Schema.migrations.prefix(3) { try db.execute(sql: sql) }
            try db.execute(sql: "PRAGMA user_version = 3")
            try db.execute(sql: """
                INSERT INTO experiment (name, spec_path, spec_text, spec_sha256, weights, charts, created_at, updated_at)
                VALUES ('r', '/tmp/r.exp', '', '', 'pretrained', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                INSERT INTO run (experiment_id, key, status, model, weights, quantization, threads, prompt, plan_json, started_at, finished_at,
                                 load_seconds, memory_source, peak_rss)
                VALUES (1, 'k', 'ok', 'gpt2', 'pretrained', 'fp32', 1, 'a', '{}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 0.5, 'proc', 4096);
                INSERT INTO measurement (run_id, repeat, prefill_seconds, prefill_tokens_per_second, decode_tokens_per_second,
                                         time_to_first_token, total_seconds, new_tokens) VALUES (1, 0, 0.1, 10, 20, 0.1, 0.2, 2);
                """)
        }
        try old.close()
        let store = try Store(path: path)
        let round = try store.queue.read { try Row.fetchOne($0, sql: "SELECT * FROM run_round") }
        #expect(round?["run_id"] as Int64? == 1 && round?["round"] as Int? == 0 && round?["peak_rss"] as Int? == 4096)
        #expect(round?["load_seconds"] as Double? == 0.5 && round?["status"] as String? == "ok")
        #expect(try store.queue.read { try Int.fetchOne($0, sql: "SELECT round FROM measurement") } == 0)
        #expect(try store.queue.read { try Row.fetchOne($0, sql: "SELECT cpu_seconds FROM measurement") }?["cpu_seconds"] as Double? == nil)
    }
}
