// What must hold when things go wrong: a SIGKILLed experiment resumes without duplicating or
// losing runs, broken experiment files fail with positioned errors before the database is touched,
// a failing configuration is stored as failed while the others run, two processes share one
// database, and comparisons pair matching configurations.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
import Testing
@testable import ExpRunKit

@Suite(.serialized) struct RobustnessEndToEndTests {
    func tinyExperiment(_ name: String, prompts: [String] = ["Once upon a time", "Hello"], tokens: Int = 3, extra: String = "") -> String {
        """
        name: \(name)
        model: \(Exprun.tinyModel)
        prompts: [\(prompts.map { "\"\($0)\"" }.joined(separator: ", "))]
        generate: {max_new_tokens: \(tokens)}
        measure: {repeats: 2, warmup: 0\(extra)}
        """
    }

    @Test func sigkillHalfwayThenRerunCompletesWithoutDuplicates() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let prompts = ["Once upon a time", "Hello", "The cat", "It was", "In the beginning"]
        let file = Exprun.write(tinyExperiment("e2e-kill", prompts: prompts, tokens: 6), to: dir)
        let process = try Exprun.start([file, "--db", db, "--no-report"])
        // Wait for the first stored run, then kill the parent outright.
        let deadline = Date().addingTimeInterval(300)
        var stored = 0
        while Date() < deadline && process.isRunning {
            if FileManager.default.fileExists(atPath: db) {
                stored = (try? rows(db, "SELECT COUNT(*) AS n FROM run").first?["n"] as Int?) ?? 0
                if stored >= 1 { break }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let before = try rows(db, "SELECT id, key FROM run ORDER BY id")
        #expect(before.count >= 1)
        #expect(before.count < prompts.count, "the experiment finished before it could be killed; make its runs longer")

        let rerun = try Exprun.run([file, "--db", db])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = try rows(db, "SELECT id, key, status FROM run ORDER BY id")
        #expect(after.count == prompts.count)
        #expect(Set(after.map { $0["key"] as String }).count == prompts.count)
        #expect(after.allSatisfy { $0["status"] as String == "ok" })
        // Runs stored before the kill were kept, not measured again.
        #expect(Array(after.prefix(before.count)).map { $0["id"] as Int64 } == before.map { $0["id"] as Int64 })
        #expect(rerun.stderr.components(separatedBy: "already stored, skipped").count - 1 == before.count)
        let measurements = try rows(db, "SELECT COUNT(*) AS n FROM measurement").first?["n"] as Int?
        #expect(measurements == prompts.count * 2)
    }

    @Test func brokenExperimentFilesFailClearlyAndLeaveTheDatabaseUntouched() throws {
        let dir = Exprun.temporaryDirectory()
        let cache = Exprun.temporaryDirectory("hfcache")
        let cases: [(String, String, String)] = [
            ("bad YAML", "model: gpt2\nprompts: [unclosed\n", "test.exp:3:1: error: not valid YAML"),
            ("wrong type", "model: gpt2\nprompts: [hi]\nmeasure: {repeats: many}\n", "test.exp:3:20: error: measure.repeats: expected a whole number, found 'many'"),
            ("unknown key", "model: gpt2\nprompts: [hi]\nmeasure:\n  repeets: 3\n", "test.exp:4:3: error: measure.repeets: unknown key `repeets`; did you mean `repeats`?"),
            ("missing model", "model: ./no/such/model\nprompts: [hi]\n", "test.exp:1:8: error: model: no such file or directory"),
            ("empty prompts", "model: gpt2\nprompts: []\n", "test.exp:2:10: error: prompts: the list is empty"),
            ("unknown method", "model: gpt2\nprompts: [hi]\nquantizations: [int3]\n", "test.exp:3:17: error: quantizations[0]: unknown quantization method 'int3'"),
            ("not downloadable offline", "model: exprun-test/not-cached\nprompts: [hi]\n", "HF_HUB_OFFLINE=1"),
        ]
        // An existing database must stay byte for byte the same.
        let existing = dir + "/existing.sqlite"
        let store = try Store(path: existing)
        try store.saveExperiment(try SpecParser.parse(text: "name: keep\nmodel: gpt2\nprompts: [hi]\n", path: dir + "/keep.exp"))
        let before = try #require(FileManager.default.contents(atPath: existing))
        for (what, text, expected) in cases {
            let file = Exprun.write(text, to: dir)
            let fresh = dir + "/fresh-\(what.filter(\.isLetter)).sqlite"
            let env = ["HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": cache]
            let result = try Exprun.run([file, "--db", fresh], environment: env)
            #expect(result.status == 1, "\(what)")
            #expect(result.stderr.contains(expected), "\(what): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(what)")
            #expect(!FileManager.default.fileExists(atPath: fresh), "\(what) created a database")
            let again = try Exprun.run([file, "--db", existing], environment: env)
            #expect(again.status == 1)
            #expect(FileManager.default.contents(atPath: existing) == before, "\(what) touched the database")
            if what != "not downloadable offline" {
                let validate = try Exprun.run(["validate", file])
                #expect(validate.status == 1 && validate.stderr.contains(expected), "\(what)")
            }
        }
        let problems = try Exprun.run(["validate", Exprun.write("model: gpt2\nprompts: []\nmeasure: {repeets: 1, threads: [0]}\n", to: dir)])
        #expect(problems.stderr.split(separator: "\n").count == 3)   // all problems at once, one line each
    }

    @Test func aFailingConfigurationIsStoredAsFailedAndTheOthersRun() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        // The second model has a context of 4 positions: prompt + 3 tokens do not fit, so its child fails.
        let file = Exprun.write("""
            name: e2e-failure
            model: [\(Exprun.tinyModel), "random:gpt2?n_layer=1&n_embd=32&n_head=2&n_positions=4"]
            prompts: [Once upon a time]
            generate: {max_new_tokens: 3}
            measure: {repeats: 1, warmup: 0}
            """, to: dir)
        let result = try Exprun.run([file, "--db", db])
        #expect(result.status == 1)
        let runs = try rows(db, "SELECT status, error FROM run ORDER BY id")
        #expect(runs.map { $0["status"] as String } == ["ok", "failed"])
        #expect((runs[1]["error"] as String?)?.contains("context of 4 tokens") == true)
        let report = try String(contentsOfFile: dir + "/e2e-failure/report.md", encoding: .utf8)
        #expect(report.contains("## Failed runs") && report.contains("context of 4 tokens"))

        // A child past its timeout is killed and stored as failed too. The tiny fixture can finish
        // inside 10 ms on an idle machine; GPT-2 124M's random weights alone take far longer to draw.
        let slow = Exprun.write("""
            name: e2e-timeout
            model: random:gpt2
            prompts: [Hi]
            generate: {max_new_tokens: 3}
            measure: {repeats: 2, warmup: 0, timeout: 0.01}
            """, to: dir, name: "slow.exp")
        let timedOut = try Exprun.run([slow, "--db", db])
        #expect(timedOut.status == 1)
        let error = try rows(db, "SELECT run.error FROM run JOIN experiment ON experiment.id = run.experiment_id WHERE experiment.name = 'e2e-timeout'").first?["error"] as String?
        #expect(error?.contains("timed out") == true)
    }

    @Test func twoProcessesShareOneDatabaseAndCompareReportsPairConfigurations() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let left = Exprun.write(tinyExperiment("left", extra: ", threads: [1, 2]"), to: dir, name: "left.exp")
        let right = Exprun.write(tinyExperiment("right", extra: ", threads: [1, 2]"), to: dir, name: "right.exp")
        final class Results: @unchecked Sendable { var a: Exprun.Result?; var b: Exprun.Result? }
        let results = Results()
        let group = DispatchGroup()
        group.enter(); Thread.detachNewThread { results.a = try? Exprun.run([left, "--db", db]); group.leave() }
        group.enter(); Thread.detachNewThread { results.b = try? Exprun.run([right, "--db", db]); group.leave() }
        group.wait()
        #expect(results.a?.status == 0, "\(results.a?.stderr ?? "")")
        #expect(results.b?.status == 0, "\(results.b?.stderr ?? "")")
        let counts = try rows(db, "SELECT experiment.name AS name, COUNT(*) AS n, SUM(run.status = 'ok') AS ok FROM run JOIN experiment ON experiment.id = run.experiment_id GROUP BY experiment.name ORDER BY name")
        #expect(counts.map { $0["name"] as String } == ["left", "right"])
        #expect(counts.allSatisfy { ($0["n"] as Int) == 4 && ($0["ok"] as Int) == 4 })

        let compare = try Exprun.run(["compare", "left", "right", "--db", db])
        #expect(compare.status == 0, "\(compare.stderr)")
        let path = compare.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let markdown = try String(contentsOfFile: path, encoding: .utf8)
        let table = markdownTable(markdown, after: "## left → right")
        #expect(table.count == 4 * 7)                     // 4 configurations × 7 metrics
        #expect(table.allSatisfy { $0[4].contains("×") })
        #expect(table.allSatisfy { row in Verdict.allCases.contains { row[5].replacingOccurrences(of: "**", with: "") == $0.rawValue } })
        for svg in ["compare-decode.svg", "compare-memory.svg"] {
            #expect(XMLDocumentCheck.parse(file: (path as NSString).deletingLastPathComponent + "/" + svg) != nil)
        }
        // Runs by id pair directly.
        let ids = try rows(db, "SELECT id FROM run ORDER BY id").map { $0["id"] as Int64 }
        let byID = try Exprun.run(["compare", String(ids[0]), String(ids[5]), "--db", db, "--output", dir + "/pair"])
        #expect(byID.status == 0)
        #expect(markdownTable(try String(contentsOfFile: dir + "/pair/compare.md", encoding: .utf8), after: "→").count == 7)
        // A side may come from another database (another machine's results).
        let copy = dir + "/other.sqlite"
        let other = try Exprun.run(["compare", "left", copy + ":right", "--db", db, "--output", dir + "/cross"])
        #expect(other.status == 1 && other.stderr.contains("no such database"))
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.copyItem(atPath: db + suffix, toPath: copy + suffix)
        }
        let cross = try Exprun.run(["compare", "left", copy + ":right", "--db", db, "--output", dir + "/cross"])
        #expect(cross.status == 0, "\(cross.stderr)")
        #expect(markdownTable(try String(contentsOfFile: dir + "/cross/compare.md", encoding: .utf8), after: "→").count == 4 * 7)
        let unknown = try Exprun.run(["compare", "left", "rigth", "--db", db])
        #expect(unknown.status == 1 && unknown.stderr.contains("did you mean `right`?"))
    }
}
