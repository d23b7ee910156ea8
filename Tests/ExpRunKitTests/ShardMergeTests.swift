// Shards and merging, without a cluster: a shard reads back as written and any damage to it is
// refused by name; merging is idempotent by (key, round), a success is never replaced by a
// failure, shards of another experiment are refused before the database is opened, and a
// database measured on another machine is kept apart so both machines' runs stay. Also the
// array's tasks (the local schedule's order, stored rounds skipped, at most 1000 tasks) and the
// parsing of `scontrol show job -o` lines as Slurm 22.05 prints them.
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

@Suite struct ShardMergeTests {
    func plan(_ name: String = "s", rounds: Int = 2) throws -> Plan {
        let spec = try SpecParser.parse(text: "name: \(name)\nmodel: gpt2\nprompts: [hi, there]\nmeasure: {repeats: \(max(2, rounds)), rounds: \(rounds)}\n",
                                        path: "/tmp/\(name).exp")
        return Plan(spec: spec, version: "1")
    }

    func record(_ entry: PlanEntry, round: Int, status: RunRecord.Status = .ok, host: String = "h", finished: Double = 10) -> RunRecord {
        var r = RunRecord(key: entry.key, status: status, startedAt: Date(timeIntervalSince1970: 1_700_000_000 + finished - 10),
                          finishedAt: Date(timeIntervalSince1970: 1_700_000_000 + finished))
        r.round = round
        r.weights = WeightSummary(bytes: 1000, parameters: 250, bitsPerWeight: 32, bytesByFormat: ["fp32": 1000])
        var m = MemoryFigures(source: "proc")
        m.rssAfterLoad = 5000; m.peakRSS = 7000 + round
        r.memory = m
        r.loadSeconds = 0.25
        r.promptTokens = [1, 2, 3]
        r.newTokensRequested = 4
        if status == .ok {
            r.repeats = [RepeatRecord(index: round, round: round, prefillSeconds: 0.01, prefillTokensPerSecond: 300, decodeTokensPerSecond: 50 + Double(round),
                                      timeToFirstToken: 0.01, totalSeconds: 0.05, newTokens: 4, tokens: [5, 6, 7, 8], text: "abcd", rssAfter: 6000)]
        } else {
            r.error = "killed"
        }
        r.environment = EnvironmentRecord(cpuModel: "cpu", cpuFlags: "avx2", cores: 2, memoryBytes: 1 << 30, os: "os", hostname: host,
                                          exprunVersion: "1", gitCommit: nil, modelFiles: [:], experimentSHA256: "cd",
                                          slurmJob: "7_0", slurmNode: host)
        return r
    }

    func shard(_ plan: Plan, dir: String, task: Int = 0, steps: [(Int, Int)]) throws -> Shard {
        let planSteps = steps.map { PlanStep(key: plan.entries[$0.0].key, round: $0.1) }
        var s = Shard(path: dir + "/task-\(task).jsonl", header: ShardHeader(
            experiment: ExperimentRow(plan.spec, planKeys: plan.entries.map(\.key)), submission: "sub", task: task, steps: planSteps))
        for (e, round) in steps {
            var entry = plan.entries[e]
            entry.round = round
            s.records.append(ShardRecord(entry: entry, record: record(plan.entries[e], round: round)))
        }
        try s.write()
        return s
    }

    /// Every row of the tables a run lives in, as text: equal dumps are equal databases.
    func dump(_ path: String) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in
            try ["run", "run_round", "measurement", "output", "environment"].flatMap { table in
                try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2").map { "\(table) \($0)" }
            }
        }
    }

    @Test func shardReadsBackAsWritten() throws {
        let dir = TestPaths.temporaryDirectory()
        let p = try plan()
        let written = try shard(p, dir: dir, steps: [(0, 0), (1, 0), (0, 1)])
        let back = try Shard.read(path: written.path)
        #expect(back.header == written.header)
        #expect(back.records.map(\.entry) == written.records.map(\.entry))
        #expect(back.records.map(\.record.repeats) == written.records.map(\.record.repeats))
        #expect(back.records.map(\.record.environment) == written.records.map(\.record.environment))
        #expect(!FileManager.default.fileExists(atPath: written.path + ".tmp-\(getpid())"))
    }

    @Test func damagedShardsAreRefusedByName() throws {
        let dir = TestPaths.temporaryDirectory()
        let good = try Data(contentsOf: URL(fileURLWithPath: try shard(try plan(), dir: dir, steps: [(0, 0), (1, 0)]).path))
        let lines = good.split(separator: UInt8(ascii: "\n")).map { Data($0) + Data("\n".utf8) }
        var flipped = good
        let middle = lines[0].count + lines[1].count / 2
        flipped[middle] = flipped[middle] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        let cases: [(String, Data, String)] = [
            ("cut-mid-line", good.prefix(good.count - 7), "does not end with a complete line"),
            ("no-end-line", lines[0] + lines[1] + lines[2], "has no end line"),
            ("record-dropped", lines[0] + lines[1] + lines[3], "checksum"),
            ("byte-changed", flipped, "checksum"),
            ("not-a-shard", Data("{\"hello\": 1}\n".utf8), "not an exprun shard"),
            ("empty", Data(), "does not end with a complete line"),
        ]
        for (name, data, expected) in cases {
            let path = dir + "/\(name).jsonl"
            try data.write(to: URL(fileURLWithPath: path))
            #expect(throws: (any Error).self) { try Shard.read(path: path) }
            do { _ = try Shard.read(path: path) } catch {
                #expect("\(error)".hasPrefix(path + ":"), "\(name): \(error)")
                #expect("\(error)".contains(expected), "\(name): \(error)")
            }
        }
    }

    @Test func mergingTwiceChangesNothing() throws {
        let dir = TestPaths.temporaryDirectory()
        let p = try plan()
        let a = try shard(p, dir: dir, task: 0, steps: [(0, 0), (1, 0)])
        let b = try shard(p, dir: dir, task: 1, steps: [(0, 1), (1, 1)])
        let store = try Store(path: dir + "/db.sqlite")
        let first = try Merge.shards([a, b], into: store, replacingExperiment: false)
        #expect(first.imported == 4 && first.unchanged == 0)
        let before = try dump(dir + "/db.sqlite")
        let second = try Merge.shards(try Merge.read([dir]).shards, into: store, replacingExperiment: false)
        #expect(second.imported == 0 && second.unchanged == 4)
        #expect(try dump(dir + "/db.sqlite") == before)
        // Each run once, with both rounds.
        let runs = try store.runs(experiment: "s")
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.record.rounds.map(\.round) == [0, 1] && $0.record.status == .ok })
        #expect(runs.allSatisfy { $0.record.environment?.slurmJob == "7_0" })
    }

    @Test func successIsNeverReplacedByFailure() throws {
        let dir = TestPaths.temporaryDirectory()
        let p = try plan(rounds: 1)
        let store = try Store(path: dir + "/db.sqlite")
        let id = try store.saveExperiment(p.spec, planKeys: p.entries.map(\.key))
        var entry = p.entries[0]
        entry.round = 0
        #expect(try store.mergeRound(experimentID: id, entry: entry, record: record(p.entries[0], round: 0, status: .ok)) == .imported)
        #expect(try store.mergeRound(experimentID: id, entry: entry, record: record(p.entries[0], round: 0, status: .failed, finished: 99)) == .kept)
        #expect(try store.runs(experiment: "s")[0].record.status == .ok)
        // A failure is replaced by a later success, and by nothing older.
        entry = p.entries[1]
        #expect(try store.mergeRound(experimentID: id, entry: entry, record: record(p.entries[1], round: 0, status: .failed, finished: 20)) == .imported)
        #expect(try store.mergeRound(experimentID: id, entry: entry, record: record(p.entries[1], round: 0, status: .failed, finished: 15)) == .kept)
        #expect(try store.mergeRound(experimentID: id, entry: entry, record: record(p.entries[1], round: 0, status: .ok, finished: 30)) == .imported)
        #expect(try store.runs(experiment: "s").allSatisfy { $0.record.status == .ok })
    }

    @Test func shardOfAnotherExperimentIsRefusedBeforeAnythingIsWritten() throws {
        let dir = TestPaths.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        let a = try shard(try plan("s"), dir: dir, steps: [(0, 0)])
        let b = try shard(try plan("t"), dir: dir + "/other", steps: [(0, 0)])
        #expect(throws: (any Error).self) { try Merge.read([a.path, b.path]) }
        do { _ = try Merge.read([a.path, b.path]) } catch {
            #expect("\(error)".contains(b.path + ": is a shard of experiment 't', not of 's'"), "\(error)")
            #expect("\(error)".contains("nothing was merged"))
        }
        do { _ = try Merge.read([a.path], experiment: "t") } catch {
            #expect("\(error)".contains(a.path + ": is a shard of experiment 's', not of 't'"), "\(error)")
        }
        #expect(try Merge.read([a.path]).shards.count == 1)
    }

    @Test func databaseOfAnotherMachineIsKeptApart() throws {
        let dir = TestPaths.temporaryDirectory()
        let p = try plan(rounds: 1)
        func database(_ name: String, host: String) throws -> Store {
            let store = try Store(path: dir + "/\(name).sqlite")
            let id = try store.saveExperiment(p.spec, planKeys: p.entries.map(\.key))
            for e in p.entries { try store.saveRound(experimentID: id, entry: e, record: record(e, round: 0, host: host)) }
            return store
        }
        let laptop = try database("laptop", host: "laptop"), server = try database("server", host: "server-b")
        _ = try database("laptop-copy", host: "laptop")
        let merged = try Merge.database(server.path, into: laptop)
        #expect(merged.experiments == ["s@server-b"])
        #expect(merged.imported == 2)
        #expect(merged.notes.first?.contains("exprun compare s s@server-b") == true)
        #expect(try laptop.runs(experiment: "s").map { $0.record.environment?.hostname } == ["laptop", "laptop"])
        #expect(try laptop.runs(experiment: "s@server-b").map { $0.record.environment?.hostname } == ["server-b", "server-b"])
        #expect(try laptop.runs(experiment: "s@server-b").map(\.record.repeats) == (try server.runs(experiment: "s").map(\.record.repeats)))
        // Again: nothing changes. A database of the same machine merges into the experiment itself.
        #expect(try Merge.database(server.path, into: laptop).unchanged == 2)
        let same = try Merge.database(dir + "/laptop-copy.sqlite", into: laptop)
        #expect(same.experiments == ["s"] && same.unchanged == 2)
        #expect(try laptop.experiments().map(\.name).sorted() == ["s", "s@server-b"])
    }

    @Test func tasksFollowTheScheduleAndSkipStoredRounds() throws {
        let p = try plan(rounds: 3)
        let schedule = p.schedule.map { PlanStep(key: p.entries[$0.entry].key, round: $0.round) }
        let stored: Set = [schedule[1], schedule[4]]
        let tasks = SlurmSubmission.tasks(p, skipping: stored)
        #expect(tasks.count == schedule.count - 2 && tasks.allSatisfy { $0.count == 1 })
        #expect(tasks.flatMap { $0 } == schedule.filter { !stored.contains($0) })

        // More rounds than an array may hold: consecutive rounds share a task, at most 1000 tasks.
        let prompts = (0..<1100).map { "p\($0)" }.joined(separator: ", ")
        let big = Plan(spec: try SpecParser.parse(text: "name: big\nmodel: gpt2\nprompts: [\(prompts)]\nmeasure: {repeats: 1}\n", path: "/tmp/big.exp"), version: "1")
        let bigTasks = SlurmSubmission.tasks(big, skipping: [])
        #expect(bigTasks.count <= SlurmSubmission.maxTasks && bigTasks.count >= 550)
        #expect(bigTasks.flatMap { $0 } == big.schedule.map { PlanStep(key: big.entries[$0.entry].key, round: $0.round) })
    }

    /// Lines as `scontrol show job -o` (Slurm 22.05.8) printed them on the one-node test cluster
    /// (scripts/slurm-local), shortened after NodeList: a running task, the pending rest of its
    /// array, a cancelled task (SIGTERM: the script's trap exited 143) and a finished merge job.
    @Test func scontrolLinesAreRead() throws {
        let running = try #require(SlurmJob(line: "JobId=11 ArrayJobId=10 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=s.sh UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:01 TimeLimit=UNLIMITED NodeList=localhost BatchHost=localhost"))
        #expect(running.jobID == "11" && running.arrayJobID == "10" && running.tasks == [0] && running.state == "RUNNING")
        #expect(!running.ended && !running.failed && running.node == "localhost")
        let pending = try #require(SlurmJob(line: "JobId=10 ArrayJobId=10 ArrayTaskId=2-3%1 ArrayTaskThrottle=1 JobName=s.sh JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) ExitCode=0:0 NodeList=(null)"))
        #expect(pending.tasks == [2, 3] && pending.reason == "JobArrayTaskLimit" && pending.node == nil && !pending.ended)
        let cancelled = try #require(SlurmJob(line: "JobId=11 ArrayJobId=10 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=s.sh JobState=CANCELLED Reason=None Dependency=(null) ExitCode=143:0 NodeList=localhost"))
        #expect(cancelled.ended && cancelled.failed && cancelled.describe == "CANCELLED (exit code 143:0)")
        let merge = try #require(SlurmJob(line: "JobId=2 JobName=wrap UserId=root(0) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 NodeList=localhost"))
        #expect(merge.arrayJobID == nil && merge.ended && !merge.failed && merge.describe == "COMPLETED")
        #expect(SlurmJob.expand("0,3,5-9:2%4") == [0, 3, 5, 7, 9])
        #expect(SlurmJob(line: "slurm_load_jobs error: Invalid job id specified") == nil)
    }
}
