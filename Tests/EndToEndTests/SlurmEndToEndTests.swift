// Scale-out through the real binary and a real Slurm: the one-node cluster of scripts/slurm-local,
// which scripts/test starts and names in EXPRUN_TEST_SLURM_CONF (the tests skip, saying why, where
// it could not). Oracles: the local runner's own records of the same experiment (every
// deterministic field: keys, rounds, weights, prompt and generated tokens, KL against the
// baseline), the database read back, the scheduler's own job states, and the database's bytes
// before and after a merge that must change nothing. Without a cluster: submitting where sbatch is
// missing, and merging two databases made on two machines (two hostnames, through a UTS namespace).
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

enum LocalSlurm {
    /// The local cluster's slurm.conf, or nil with the reason the Slurm tests skip.
    static let conf: String? = {
        guard let path = ProcessInfo.processInfo.environment["EXPRUN_TEST_SLURM_CONF"], !path.isEmpty,
              FileManager.default.fileExists(atPath: path) else { return nil }
        // exprun and Slurm's tools started from these tests read it from the environment.
        setenv("SLURM_CONF", path, 1)
        return path
    }()
    static var skipReason: Comment {
        let why = ProcessInfo.processInfo.environment["EXPRUN_TEST_SLURM_SKIP"].map { ": \($0)" } ?? ""
        return Comment(rawValue: "no local Slurm cluster (scripts/test starts one with scripts/slurm-local and sets EXPRUN_TEST_SLURM_CONF)\(why)")
    }
    static var environment: [String: String] { ["SLURM_CONF": conf ?? ""] }

    /// Waits until the node is idle, so a test starts with the whole (small) node.
    static func waitIdle() throws {
        let folder = ((conf ?? "") as NSString).deletingLastPathComponent
        let p = try Process.run(URL(fileURLWithPath: Exprun.packageRoot.path + "/scripts/slurm-local"), arguments: ["wait", folder])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "the local Slurm node did not become idle")
    }

    static func scancel(_ job: String) throws {
        let p = try Process.run(URL(fileURLWithPath: try #require(Slurm.find("scancel"))), arguments: [job])
        p.waitUntilExit()
    }
}

/// The database's runs, rounds, measurements and outputs as text (the environment apart): two
/// equal dumps are the same stored measurements.
func runDump(_ db: String) throws -> [String] {
    try ["run", "run_round", "measurement", "output", "environment"].flatMap { table in
        try rows(db, "SELECT * FROM \(table) ORDER BY 1, 2").map { "\(table) \($0)" }
    }
}

/// The cells of the rows of the markdown table whose header row is `header`.
func tableRows(_ markdown: String, header: String) -> [[String]] {
    guard let range = markdown.range(of: header + "\n") else { return [] }
    return markdown[range.upperBound...].split(separator: "\n").dropFirst().prefix { $0.hasPrefix("|") }.map { line in
        line.dropFirst().dropLast().split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// What must agree between two records of the same run made by two runners (times, memory and the
/// machine apart): keys, rounds, weights, tokens in and out, quality.
func deterministicFields(_ r: StoredRun) -> String {
    let rec = r.record
    let weights = rec.weights.flatMap { try? JSONEncoder.runRecord.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? "–"
    return [r.entry.key, rec.status.rawValue, "\(rec.rounds.map { "\($0.round):\($0.status.rawValue)" })", weights,
            "\(String(describing: rec.promptTokens))", "\(String(describing: rec.newTokensRequested))",
            "\(rec.repeats.map { "\($0.index)/\($0.round) \($0.tokens) \($0.text ?? "")" })", "\(rec.quality)"].joined(separator: " | ")
}

@Suite(.enabled(if: LocalSlurm.conf != nil, LocalSlurm.skipReason), .serialized)
struct SlurmEndToEndTests {
    @Test func sweepStoresEveryRoundOnceWithTheLocalRunnersRecords() throws {
        try LocalSlurm.waitIdle()
        let dir = Exprun.temporaryDirectory()
        let results = dir + "/cluster", db = results + "/exprun.sqlite"
        let file = Exprun.write("""
            name: e2e-slurm
            model: \(Exprun.tinyModel)
            quantizations: [fp32, q8_0, q4_0, bnb-int8]
            prompts: [Once upon a time, "Hello, my name is"]
            generate: {max_new_tokens: 6}
            measure: {repeats: 2, rounds: 2, warmup: 0, threads: [1], baseline: fp32}
            """, to: dir)
        let other = Exprun.write("""
            name: e2e-slurm-other
            model: \(Exprun.tinyModel)
            prompts: [Hi]
            generate: {max_new_tokens: 2}
            measure: {repeats: 1, warmup: 0}
            """, to: dir, name: "other.exp")
        let env = LocalSlurm.environment

        // The second experiment's single task, submitted without waiting, shares the node meanwhile.
        let second = try Exprun.run([other, "--slurm", "--db", db], environment: env)
        #expect(second.status == 0, "\(second.stderr)")
        let submitted = try Exprun.run([file, "--slurm", "--max-parallel", "2", "--wait", "--db", db], environment: env, timeout: 300)
        #expect(submitted.status == 0, "\(submitted.stdout)\n\(submitted.stderr)")
        #expect(submitted.stdout.contains("16 of 16 run round(s) to measure (0 already stored) in 16 array task(s), at most 2 at once"), "\(submitted.stdout)")
        #expect(submitted.stdout.range(of: #"array job \d+, merge job \d+"#, options: .regularExpression) != nil, "\(submitted.stdout)")
        #expect(try Exprun.run(["status", "e2e-slurm-other", "--wait", "--db", db], environment: env, timeout: 120).status == 0)

        // The same experiment through the local runner.
        let local = try Exprun.run([file, "--db", dir + "/local/exprun.sqlite", "--no-report"])
        #expect(local.status == 0, "\(local.stderr)")

        let cluster = try Store(path: db, readOnly: true), here = try Store(path: dir + "/local/exprun.sqlite", readOnly: true)
        let clusterRuns = try cluster.runs(experiment: "e2e-slurm"), localRuns = try here.runs(experiment: "e2e-slurm")
        #expect(clusterRuns.count == 8 && localRuns.count == 8)
        // Every round once: 8 runs × 2 rounds, one repeat each.
        #expect(try rows(db, "SELECT COUNT(*) AS n FROM run_round JOIN run ON run.id = run_round.run_id WHERE run.experiment_id = (SELECT id FROM experiment WHERE name = 'e2e-slurm')").first?["n"] == 16)
        #expect(try rows(db, "SELECT COUNT(*) AS n FROM measurement JOIN run ON run.id = measurement.run_id WHERE run.experiment_id = (SELECT id FROM experiment WHERE name = 'e2e-slurm')").first?["n"] == 16)
        #expect(clusterRuns.map(deterministicFields).sorted() == localRuns.map(deterministicFields).sorted())
        #expect(clusterRuns.allSatisfy { $0.record.quality.klMean != nil || $0.entry.label == "fp32" })
        // Each run says which job and node measured it; the local ones do not.
        for r in clusterRuns {
            let job = r.record.environment?.slurmJob ?? ""
            #expect(job.range(of: #"^\d+_\d+$"#, options: .regularExpression) != nil && r.record.environment?.slurmNode == "localhost", "\(job)")
        }
        #expect(localRuns.allSatisfy { $0.record.environment?.slurmJob == nil })
        let report = try String(contentsOfFile: results + "/e2e-slurm/report.md", encoding: .utf8)
        // The report's table of where each run was measured: both rounds' jobs, on node localhost.
        let placed = tableRows(report, header: "| run | configuration | host | Slurm node | Slurm job of each round | decode tok/s |")
        #expect(placed.count == 8 && placed.allSatisfy { $0[3] == "localhost" && $0[4].range(of: #"^\d+_\d+, \d+_\d+$"#, options: .regularExpression) != nil },
                "\(placed)")

        // Submitting again submits nothing; merging the shards again changes nothing.
        let again = try Exprun.run([file, "--slurm", "--db", db], environment: env)
        #expect(again.status == 0 && again.stdout.contains("all 16 run round(s) are stored"), "\(again.stdout)\(again.stderr)")
        let folder = results + "/slurm/e2e-slurm"
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).count == 1)
        let before = try runDump(db)
        let merged = try Exprun.run(["merge", folder, "--db", db])
        #expect(merged.status == 0 && merged.stdout.contains("0 round(s) imported, 16 already stored"), "\(merged.stdout)\(merged.stderr)")
        #expect(try runDump(db) == before)

        // A truncated shard, and a shard of another experiment, are refused by name; nothing is written.
        let submission = try #require(SlurmSubmission.all(results: results, experiment: "e2e-slurm").last)
        let shard = submission.shardPath(task: 3)
        let truncated = dir + "/truncated.jsonl"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: truncated))
        let refused = try Exprun.run(["merge", shard, truncated, "--db", db])
        #expect(refused.status == 1 && refused.stderr.contains(truncated + ": does not end with a complete line"), "\(refused.stderr)")
        let otherShard = try #require(SlurmSubmission.all(results: results, experiment: "e2e-slurm-other").last).shardPath(task: 0)
        let mixed = try Exprun.run(["merge", shard, otherShard, "--db", db])
        #expect(mixed.status == 1 && mixed.stderr.contains(otherShard + ": is a shard of experiment 'e2e-slurm-other', not of 'e2e-slurm'"), "\(mixed.stderr)")
        #expect(mixed.stderr.contains("nothing was merged"))
        #expect(try runDump(db) == before)

        let status = try Exprun.run(["status", "e2e-slurm", "--db", db], environment: env)
        #expect(status.status == 0 && status.stdout.contains("16 submitted, 16 measured ok, 0 failed, 0 to go; 16 of 16 stored"), "\(status.stdout)")
    }

    @Test func cancelledTaskIsAFailedRunAndResubmittingCompletesIt() throws {
        try LocalSlurm.waitIdle()
        let dir = Exprun.temporaryDirectory()
        let results = dir + "/cluster", db = results + "/exprun.sqlite"
        // A second model wide enough that its run lasts a few seconds: time to cancel it mid-run.
        let slow = "random:gpt2?n_layer=4&n_embd=512&n_head=8&seed=3"
        let file = Exprun.write("""
            name: e2e-slurm-cancel
            model: [\(Exprun.tinyModel), "\(slow)"]
            prompts: [Once upon a time]
            generate: {max_new_tokens: 48}
            measure: {repeats: 2, warmup: 1}
            """, to: dir)
        let env = LocalSlurm.environment
        let submitted = try Exprun.run([file, "--slurm", "--max-parallel", "1", "--db", db], environment: env)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let submission = try #require(SlurmSubmission.all(results: results, experiment: "e2e-slurm-cancel").last)
        let array = try #require(submission.arrayJob)
        let slowKey = try #require(submission.entries.first { $0.model == slow }?.key)
        let task = try #require(submission.tasks.firstIndex { $0.contains { $0.key == slowKey } })

        // Cancel the slow task once it runs and before its shard holds its round.
        let slurm = try #require(Slurm.tools())
        let deadline = Date().addingTimeInterval(120)
        var cancelledMidRun = false
        while Date() < deadline {
            if try slurm.jobs(array).contains(where: { $0.tasks == [task] && $0.state == "RUNNING" }) {
                cancelledMidRun = ((try? Shard.read(path: submission.shardPath(task: task)))?.records.isEmpty) ?? true
                try LocalSlurm.scancel("\(array)_\(task)")
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(cancelledMidRun, "the slow task ended before it could be cancelled")
        let status = try Exprun.run(["status", "e2e-slurm-cancel", "--wait", "--db", db], environment: env, timeout: 180)
        #expect(status.status == 1, "\(status.stdout)")
        #expect(status.stdout.contains("failed: task \(task) (job \(array)_\(task) on localhost): CANCELLED"), "\(status.stdout)")

        var runs = try Store(path: db, readOnly: true).runs(experiment: "e2e-slurm-cancel")
        #expect(runs.count == 2)
        let cancelled = try #require(runs.first { $0.entry.key == slowKey })
        #expect(cancelled.record.status == .failed && cancelled.record.error?.contains("array task \(array)_\(task) ended CANCELLED") == true,
                "\(cancelled.record.error ?? "")")
        #expect(runs.first { $0.entry.key != slowKey }?.record.status == .ok)

        // Submitted again: only the cancelled run, which now completes; nothing is duplicated.
        let again = try Exprun.run([file, "--slurm", "--wait", "--db", db], environment: env, timeout: 180)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(again.stdout.contains("1 of 2 run round(s) to measure (1 already stored) in 1 array task(s)"), "\(again.stdout)")
        runs = try Store(path: db, readOnly: true).runs(experiment: "e2e-slurm-cancel")
        #expect(runs.count == 2 && runs.allSatisfy { $0.record.status == .ok && $0.record.repeats.count == 2 })
    }

    @Test func controllerThatDoesNotAnswerSubmitsNothing() throws {
        let dir = Exprun.temporaryDirectory()
        // The cluster's own configuration with the controller moved to a port where nothing listens.
        let conf = try String(contentsOfFile: try #require(LocalSlurm.conf), encoding: .utf8)
            .replacingOccurrences(of: #"SlurmctldPort=\d+"#, with: "SlurmctldPort=1", options: .regularExpression)
        try conf.write(toFile: dir + "/slurm.conf", atomically: true, encoding: .utf8)
        let file = Exprun.write("name: e2e-slurm-down\nmodel: \(Exprun.tinyModel)\nprompts: [Hi]\n", to: dir)
        let r = try Exprun.run([file, "--slurm", "--db", dir + "/results/exprun.sqlite"], environment: ["SLURM_CONF": dir + "/slurm.conf"], timeout: 120)
        #expect(r.status == 1)
        #expect(r.stderr.contains("exprun: error: --slurm: the Slurm controller does not answer") && r.stderr.contains("nothing was submitted"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/results"))
    }
}

@Suite struct MergeEndToEndTests {
    @Test func sbatchMissingSubmitsNothing() throws {
        let dir = Exprun.temporaryDirectory()
        let file = Exprun.write("name: e2e-no-sbatch\nmodel: \(Exprun.tinyModel)\nprompts: [Hi]\n", to: dir)
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        let r = try Exprun.run([file, "--slurm", "--db", dir + "/results/exprun.sqlite"], environment: ["PATH": dir + "/bin"])
        #expect(r.status == 1)
        #expect(r.stderr == "exprun: error: --slurm: sbatch is not on PATH (run this on a Slurm login node, or add Slurm's bin folder to PATH); nothing was submitted\n", "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/results"))
    }

    /// A UTS namespace gives the second run its own hostname, as a second machine would.
    static let namespaces: Bool = {
        guard let p = try? Process.run(URL(fileURLWithPath: "/usr/bin/unshare"), arguments: ["--uts", "true"]) else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    @Test(.enabled(if: namespaces, "unshare --uts is not permitted here: no second hostname for the second database"))
    func databasesOfTwoMachinesMergeAndCompare() throws {
        let dir = Exprun.temporaryDirectory()
        let file = Exprun.write("""
            name: e2e-two-machines
            model: \(Exprun.tinyModel)
            quantizations: [fp32, q8_0]
            prompts: [Hello]
            generate: {max_new_tokens: 4}
            measure: {repeats: 1, warmup: 0}
            """, to: dir)
        let laptop = dir + "/laptop/exprun.sqlite", server = dir + "/server/exprun.sqlite"
        #expect(try Exprun.run([file, "--db", laptop, "--no-report"]).status == 0)
        let shell = "hostname server-b && exec \"$0\" \"$@\""
        let p = try Process.run(URL(fileURLWithPath: "/usr/bin/unshare"),
                                arguments: ["--uts", "sh", "-c", shell, Exprun.binary, file, "--db", server, "--no-report"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let here = try Store(path: laptop, readOnly: true).runs(experiment: "e2e-two-machines").compactMap { $0.record.environment?.hostname }
        #expect(try Store(path: server, readOnly: true).runs(experiment: "e2e-two-machines").map { $0.record.environment?.hostname } == ["server-b", "server-b"])
        #expect(here.count == 2 && !here.contains("server-b"))

        let merged = try Exprun.run(["merge", server, "--db", laptop])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("kept apart as experiment e2e-two-machines@server-b"), "\(merged.stdout)")
        #expect(merged.stdout.contains("2 round(s) imported"))
        let store = try Store(path: laptop, readOnly: true)
        #expect(try store.runs(experiment: "e2e-two-machines").count == 2)
        let theirs = try store.runs(experiment: "e2e-two-machines@server-b")
        #expect(theirs.count == 2 && theirs.allSatisfy { $0.record.environment?.hostname == "server-b" })
        #expect(theirs.map(deterministicFields) == (try Store(path: server, readOnly: true).runs(experiment: "e2e-two-machines").map(deterministicFields)))

        let before = try runDump(laptop)
        let again = try Exprun.run(["merge", server, "--db", laptop, "--no-report"])
        #expect(again.status == 0 && again.stdout.contains("0 round(s) imported, 2 already stored"), "\(again.stdout)")
        #expect(try runDump(laptop) == before)

        let compared = try Exprun.run(["compare", "e2e-two-machines", "e2e-two-machines@server-b", "--format", "json", "--db", laptop])
        #expect(compared.status == 0, "\(compared.stderr)")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let pairs = try decoder.decode([CompareReport.Row].self, from: Data(compared.stdout.utf8))
        #expect(Set(pairs.map(\.configuration)).count == 2, "\(compared.stdout)")
        #expect(pairs.contains { $0.metric == "weights_mib" && $0.ratio == 1 })
        let markdown = try Exprun.run(["compare", "e2e-two-machines", "e2e-two-machines@server-b", "--db", laptop])
        let report = try String(contentsOfFile: markdown.stdout.trimmingCharacters(in: .whitespacesAndNewlines), encoding: .utf8)
        #expect(report.contains("(2 run(s))") && report.contains("measured on server-b") && report.contains("measured on \(here[0])"), "\(report)")
    }
}
