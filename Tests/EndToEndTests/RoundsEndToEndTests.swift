// Interleaved rounds and honest verdicts through the real binary. An experiment measured in rounds
// runs its plan round by round in the rotated order, stores every (run, round) once and resumes
// per round after being killed. The A/A check: the same experiment run twice (two databases, the
// same commit), with a busy loop competing for a core during part of the second run, must come
// out "same" (or "unstable") for every configuration and metric; and within one run, q4_0 must
// decode faster than fp32 on a model big enough for it to matter — or, on a machine too busy to
// tell, the product must say "unstable" and why.
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

@Suite(.serialized) struct RoundsEndToEndTests {
    @Test func roundsRunInTheRotatedOrderAndResumeAfterAKill() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let file = Exprun.write("""
            name: e2e-rounds
            model: \(Exprun.tinyModel)
            quantizations: [fp32, q8_0]
            prompts: [Once upon a time, Hello]
            generate: {max_new_tokens: 6}
            measure: {repeats: 3, warmup: 0, threads: [1]}
            """, to: dir)
        let process = try Exprun.start([file, "--db", db, "--no-report"])
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline && process.isRunning {
            if FileManager.default.fileExists(atPath: db),
               ((try? rows(db, "SELECT COUNT(*) AS n FROM run_round").first?["n"] as Int?) ?? 0) >= 5 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let before = try rows(db, "SELECT run_id, round, started_at FROM run_round ORDER BY run_id, round")
        #expect(before.count >= 5 && before.count < 12, "stored \(before.count) of 12 rounds before the kill")

        let rerun = try Exprun.run([file, "--db", db])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.components(separatedBy: "already stored, skipped").count - 1 == before.count)
        let rounds = try rows(db, "SELECT run_id, round, status, started_at FROM run_round ORDER BY run_id, round")
        #expect(rounds.count == 12 && rounds.allSatisfy { $0["status"] as String == "ok" })
        #expect(try rows(db, "SELECT id FROM run").count == 4)
        // Rounds stored before the kill were kept as they were.
        for old in before {
            #expect(rounds.contains { ($0["run_id"] as Int64) == (old["run_id"] as Int64) && ($0["round"] as Int) == (old["round"] as Int)
                && ($0["started_at"] as String) == (old["started_at"] as String) })
        }
        // One repeat per round, numbered across the run, each with the CPU figures of its window.
        let measurements = try rows(db, "SELECT run_id, round, repeat, cpu_seconds, machine_busy_seconds, machine_cpus FROM measurement ORDER BY run_id, repeat")
        #expect(measurements.count == 12)
        #expect(measurements.allSatisfy { ($0["round"] as Int) == ($0["repeat"] as Int) })
        #expect(measurements.allSatisfy { ($0["cpu_seconds"] as Double?) ?? -1 >= 0 && ($0["machine_cpus"] as Int?) == ProcessInfo.processInfo.activeProcessorCount })
        // The runner followed the plan's schedule: every round, every configuration, rotated.
        let plan = Plan(spec: try SpecParser.load(path: file), version: "")
        let expected = plan.schedule.map { step -> String in
            let e = plan.entries[step.entry]
            return "\(e.label) threads=\(e.threads) \(Plan.quote(e.prompt)) round \(step.round + 1)/3"
        }
        let printed = rerun.stderr.split(separator: "\n").filter { $0.hasPrefix("run ") }
        #expect(printed.count == 12)
        for (line, label) in zip(printed, expected) { #expect(line.contains(label), "\(line) is not \(label)") }
        #expect(expected[4].hasPrefix("fp32 threads=1 \"Hello\""))   // round 2 starts a third of the way along: the second of 4
        // Quality and the report: the report names the rounds.
        let report = try String(contentsOfFile: dir + "/e2e-rounds/report.md", encoding: .utf8)
        #expect(report.contains("in 3 interleaved rounds"))
    }

    /// The CPU time of process `pid` (and its children it waited for) from /proc/PID/stat.
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return 0 }
        let f = text[text.index(after: close)...].split(separator: " ")
        return ((Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func theSameExperimentTwiceIsTheSameAndQ4_0DecodesFaster() throws {
        let dir = Exprun.temporaryDirectory()
        // GPT-2's vocabulary, two layers 256 wide: fp32 weights of 58 MB that no cache here holds (the
        // output head alone is 51 MB), so decoding reads memory as a real model does, and each
        // process loads in a moment. 64 tokens: repeats long enough for /proc/stat's 10 ms ticks.
        let file = Exprun.write("""
            name: e2e-aa
            model: "random:gpt2?n_layer=2&n_embd=256&n_head=4&seed=9"
            quantizations: [fp32, q4_0]
            prompts: [Once upon a time]
            generate: {max_new_tokens: 64}
            measure: {repeats: 6, warmup: 1, threads: [2]}
            report: {charts: [throughput]}
            """, to: dir)
        let a = dir + "/a/exprun.sqlite", b = dir + "/b/exprun.sqlite"
        let started = Date()
        let first = try Exprun.run([file, "--db", a])
        #expect(first.status == 0, "\(first.stderr)")
        let duration = Date().timeIntervalSince(started)

        // The second run, with a busy loop on one core from a third to two thirds of its way.
        let (second, out, err) = try Exprun.start([file, "--db", b], environment: [:])
        final class Box: @unchecked Sendable { var data = Data() }
        let stderr = Box()
        let readers = DispatchGroup()
        readers.enter(); Thread.detachNewThread { _ = out.fileHandleForReading.readDataToEndOfFile(); readers.leave() }
        readers.enter(); Thread.detachNewThread { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); readers.leave() }
        Thread.sleep(forTimeInterval: duration / 3)
        let hog = Process()
        hog.executableURL = URL(fileURLWithPath: "/bin/sh")
        // Ends by itself when this process is gone: a test run killed mid-way left it spinning.
        hog.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do :; done"]
        try hog.run()
        Thread.sleep(forTimeInterval: duration / 3)
        let hogSeconds = cpuSeconds(hog.processIdentifier)
        kill(hog.processIdentifier, SIGKILL)        // SIGTERM is blocked in this process, and so in its children
        hog.waitUntilExit()
        second.waitUntilExit()
        readers.wait()
        #expect(second.terminationStatus == 0, "\(String(decoding: stderr.data, as: UTF8.self))")
        #expect(hogSeconds > 0.2, "the competing loop hardly ran (\(hogSeconds) s)")

        // A/A: no metric of any configuration differs.
        let aa = try Exprun.run(["compare", "e2e-aa", b + ":e2e-aa", "--db", a, "--format", "json"])
        #expect(aa.status == 0, "\(aa.stderr)")
        let rows = try JSONDecoder().decode([CompareReport.Row].self, from: Data(aa.stdout.utf8))
        #expect(rows.count == 2 * 7)
        for row in rows {
            #expect([.same, .unstable].contains(row.verdict), "A/A: \(row.configuration) \(row.metric): \(row.verdict) (\(row.ratio), \(row.ratio_low)–\(row.ratio_high))")
        }
        #expect(rows.contains { $0.metric == "weights_mib" && $0.verdict == .same && $0.ratio == 1 })

        // The second report names the repeats it set aside, if the loop made any busy.
        let store = try Store(path: b, readOnly: true)
        let runsB = try store.runs(experiment: "e2e-aa")
        let setAside = runsB.flatMap { RunSummaryFigures($0).repeats.setAside }
        let reportB = try String(contentsOfFile: dir + "/b/e2e-aa/report.md", encoding: .utf8)
        if !setAside.isEmpty { #expect(reportB.contains("\(setAside.count) of 12 repeats were set aside")) }

        // fp32 against q4_0 in one run (q4_0 reads a seventh of the bytes per token): faster, or — only on
        // a machine too busy to tell — unstable; never a confident wrong verdict. The ratio itself is
        // speed, which benchmarks check, not tests: at load 16 it came out 0.69 here, rightly unstable.
        let runsA = try Store(path: a, readOnly: true).runs(experiment: "e2e-aa")
        let fp32 = try #require(runsA.first { $0.entry.label == "fp32" }), q4 = try #require(runsA.first { $0.entry.label == "q4_0" })
        let pair = try Exprun.run(["compare", String(fp32.id), String(q4.id), "--db", a, "--format", "json"])
        let decode = try #require(try JSONDecoder().decode([CompareReport.Row].self, from: Data(pair.stdout.utf8))
            .first { $0.metric == "decode_tokens_per_second" })
        if decode.verdict != .faster {
            let busy = runsA.contains { RunSummaryFigures($0).repeats.noisy }
            let wide = RatioInterval(ratio: decode.ratio, low: decode.ratio_low, high: decode.ratio_high).halfWidth > RatioInterval.unstableWidth
            #expect(decode.verdict == .unstable && (busy || wide),
                    "fp32 → q4_0 decode: \(decode.verdict) (\(decode.ratio), \(decode.ratio_low)–\(decode.ratio_high)), busy: \(busy)")
        }
    }
}
