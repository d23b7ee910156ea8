// Every way a sweep can be interrupted, each followed by a look inside the database: Ctrl-C and
// SIGTERM (once, and twice), the disk filling up and the results folder turning read-only (a real
// tmpfs in a private mount namespace), a damaged database file, a child that runs out of memory,
// four processes storing into one database at once, and a model file that changes under an
// experiment. After each: the database passes SQLite's integrity check, holds only whole runs
// (each with its measurements and environment), and the experiment resumes to completion.
import Foundation
import GRDB
import Testing
@testable import ExpRunKit

@Suite(.serialized) struct InterruptionEndToEndTests {
    static let prompts = ["Once upon a time", "Hello", "The cat", "It was", "In the beginning"]

    func experiment(_ name: String, model: String = Exprun.tinyModel, prompts: [String] = Self.prompts, tokens: Int = 4,
                    extra: String = "") -> String {
        """
        name: \(name)
        model: \(model)
        prompts: [\(prompts.map { "\"\($0)\"" }.joined(separator: ", "))]
        generate: {max_new_tokens: \(tokens)}
        measure: {repeats: 2, warmup: 0\(extra)}
        """
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalStopsTheRunningChildStoresNothingOfItAndTheExperimentResumes(_ signal: Int32) throws {
        let dir = Exprun.temporaryDirectory("signal\(signal)")
        let db = dir + "/exprun.sqlite"
        let file = Exprun.write(experiment("e2e-signal"), to: dir)
        let run = try Background([file, "--db", db, "--no-report"])
        let child = try #require(waitForChild(of: run.pid, storedRuns: 1, db: db), "no second run started")
        // Frozen, the child surely meets the signal mid-run; thawed, it gets the SIGTERM exprun sent it.
        kill(child, SIGSTOP)
        kill(run.pid, signal)
        Thread.sleep(forTimeInterval: 0.3)
        kill(child, SIGCONT)
        let result = run.finish()
        #expect(result.status == 128 + signal)
        let name = signal == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM"
        #expect(result.stderr.contains("interrupted by \(name): the run of"), "\(result.stderr)")
        #expect(result.stderr.contains("was stopped and not stored"))
        #expect(result.stderr.contains("resume with the same command (stored runs are skipped): \(Exprun.binary) \(file) --db \(db) --no-report"))
        #expect(processGone(child))
        let stored = try wholeRuns(db, repeats: 2)
        #expect(stored.count >= 1 && stored.count < Self.prompts.count)

        let resumed = try Exprun.run([file, "--db", db, "--no-report"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try wholeRuns(db, repeats: 2).count == Self.prompts.count)
        #expect(resumed.stderr.components(separatedBy: "already stored, skipped").count - 1 == stored.count)
    }

    @Test func aSecondCtrlCQuitsAtOnce() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let file = Exprun.write(experiment("e2e-twice"), to: dir)
        let run = try Background([file, "--db", db, "--no-report"])
        let child = try #require(waitForChild(of: run.pid, storedRuns: 1, db: db), "no second run started")
        // Stopped once it handles SIGTERM (Interruption.endOnInterrupt), the child cannot act on
        // exprun's SIGTERM: exprun waits for it.
        try #require(waitUntil { handles(SIGTERM, child) }, "the child never installed its SIGTERM handler")
        kill(child, SIGSTOP)
        kill(run.pid, SIGINT)
        Thread.sleep(forTimeInterval: 1)
        #expect(run.process.isRunning, "exprun should wait \(Interruption.grace) s for the stopped child")
        let second = Date()
        kill(run.pid, SIGINT)
        let result = run.finish()
        #expect(Date().timeIntervalSince(second) < Interruption.grace / 2, "the second Ctrl-C did not quit at once")
        #expect(result.status == 130)
        #expect(result.stderr.contains("second interrupt: quitting now"))
        #expect(processGone(child))
        let stored = try wholeRuns(db, repeats: 2)
        #expect(stored.count >= 1 && stored.count < Self.prompts.count)
        let resumed = try Exprun.run([file, "--db", db, "--no-report"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try wholeRuns(db, repeats: 2).count == Self.prompts.count)
    }

    /// The results folder is a 16 MiB tmpfs in a mount namespace of its own (`unshare --mount
    /// --map-root-user`: no privileges needed where user namespaces are allowed). The script fills it
    /// while a run is measured, frees it, resumes, then remounts it read-only and tries again.
    @Test func aFullDiskOrAReadOnlyFolderLeavesTheDatabaseWholeAndTheExperimentResumes() throws {
        let dir = Exprun.temporaryDirectory()
        let out = dir + "/out"
        for sub in ["full", "resumed", "readonly", "writable"] { try FileManager.default.createDirectory(atPath: out + "/" + sub, withIntermediateDirectories: true) }
        let first = Exprun.write(experiment("e2e-disk", prompts: Array(Self.prompts.prefix(2))), to: dir, name: "first.exp")
        let all = Exprun.write(experiment("e2e-disk"), to: dir, name: "all.exp")
        let more = Exprun.write(experiment("e2e-disk", prompts: Self.prompts + ["More"]), to: dir, name: "more.exp")
        let script = """
            set -u
            mkdir -p "$MNT" && mount -t tmpfs -o size=16m tmpfs "$MNT" || exit 3
            db="$MNT/exprun.sqlite"
            "$EXPRUN" "$FIRST" --db "$db" --no-report 2>"$OUT/first.err" || exit 4
            # The disk fills while the second new run is measured (the first new one is stored).
            "$EXPRUN" "$ALL" --db "$db" --no-report 2>"$OUT/full.err" & pid=$!
            child() { for i in $(seq 3000); do c=$(pgrep -P $pid | head -1); [ -n "$c" ] && { echo $c; return; }; sleep 0.02; done; }
            c1=$(child); while kill -0 $c1 2>/dev/null; do sleep 0.02; done
            c2=$(child); [ "$c2" != "$c1" ] || exit 5
            kill -STOP $c2
            dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
            kill -CONT $c2
            wait $pid; echo $? > "$OUT/full.status"
            cp "$MNT"/exprun.sqlite* "$OUT/full/"
            rm "$MNT/filler"
            "$EXPRUN" "$ALL" --db "$db" --no-report 2>"$OUT/resumed.err"; echo $? > "$OUT/resumed.status"
            cp "$MNT"/exprun.sqlite* "$OUT/resumed/"
            mount -o remount,ro "$MNT" || exit 6
            "$EXPRUN" "$MORE" --db "$db" --no-report 2>"$OUT/readonly.err"; echo $? > "$OUT/readonly.status"
            cp "$MNT"/exprun.sqlite* "$OUT/readonly/"
            mount -o remount,rw "$MNT" || exit 7
            "$EXPRUN" "$MORE" --db "$db" --no-report 2>"$OUT/writable.err"; echo $? > "$OUT/writable.status"
            cp "$MNT"/exprun.sqlite* "$OUT/writable/"
            """
        let result = try runCommand(["unshare", "--mount", "--map-root-user", "bash", "-c", script],
                                    environment: ["MNT": dir + "/mnt", "OUT": out, "EXPRUN": Exprun.binary, "FIRST": first, "ALL": all, "MORE": more])
        try #require(result.status == 0, "the namespace script failed (\(result.status)): \(result.stderr)")
        func text(_ name: String) -> String { (try? String(contentsOfFile: out + "/" + name, encoding: .utf8)) ?? "" }

        // Full: the run in hand is not stored, the ones before it are whole.
        #expect(text("full.status").hasPrefix("1"))
        #expect(text("full.err").contains("could not finish storing the run of"), "\(text("full.err"))")
        #expect(text("full.err").contains("the disk is full (SQLITE_FULL"), "\(text("full.err"))")
        #expect(text("full.err").contains("run the same command again to resume once there is space"))
        #expect(try wholeRuns(out + "/full/exprun.sqlite", repeats: 2).count == 3)
        // Space again: the experiment completes, nothing doubled.
        #expect(text("resumed.status").hasPrefix("0"), "\(text("resumed.err"))")
        #expect(try wholeRuns(out + "/resumed/exprun.sqlite", repeats: 2).count == Self.prompts.count)
        // Read-only: refused before anything runs, the database as it was; writable again: resumes.
        #expect(text("readonly.status").hasPrefix("1"))
        #expect(text("readonly.err").contains("read-only or not accessible"), "\(text("readonly.err"))")
        #expect(!text("readonly.err").contains("loading"))
        #expect(try wholeRuns(out + "/readonly/exprun.sqlite", repeats: 2).count == Self.prompts.count)
        #expect(text("writable.status").hasPrefix("0"), "\(text("writable.err"))")
        #expect(try wholeRuns(out + "/writable/exprun.sqlite", repeats: 2).count == Self.prompts.count + 1)
    }

    @Test func aDamagedDatabaseIsRefusedAndNeverWritten() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let file = Exprun.write(experiment("e2e-damaged", prompts: Array(Self.prompts.prefix(3))), to: dir)
        let made = try Exprun.run([file, "--db", db, "--no-report"])
        try #require(made.status == 0, "\(made.stderr)")
        let good = try #require(FileManager.default.contents(atPath: db))
        try #require(good.count >= 6 * 4096 && !FileManager.default.fileExists(atPath: db + "-wal"), "expected a checkpointed database of several pages")
        var pageOverwritten = good
        pageOverwritten.replaceSubrange(4096..<(2 * 4096), with: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) })
        let cases: [(String, Data, String)] = [
            ("truncated", good.prefix(good.count / 2), "damaged"),
            ("a page overwritten", pageOverwritten, "damaged"),
            ("not SQLite", Data((0..<good.count).map { UInt8(truncatingIfNeeded: $0 &* 31) }), "damaged or not an SQLite database"),
        ]
        for (what, bytes, expected) in cases {
            let damaged = dir + "/\(what.filter(\.isLetter)).sqlite"
            try bytes.write(to: URL(fileURLWithPath: damaged))
            for command in [[file, "--db", damaged, "--no-report"], ["list", "--db", damaged]] {
                let result = try Exprun.run(command)
                #expect(result.status == 1, "\(what): \(result.stderr)")
                #expect(result.stderr.contains(damaged) && result.stderr.contains(expected), "\(what): \(result.stderr)")
                #expect(result.stderr.contains("exprun leaves it as it is"), "\(what)")
                #expect(!result.stderr.contains("loading"), "\(what): a run started")
                #expect(FileManager.default.contents(atPath: damaged) == bytes, "\(what): the file was changed")
            }
        }
    }

    @Test func fourProcessesStoreFiftyRunsEachIntoOneDatabase() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        // 25 prompts × 2 thread counts = 50 runs per experiment, one token each, of a one-layer model
        // 16 wide (a child takes half the time of the tiny fixture's).
        let model = dir + "/small.gguf"
        let made = try Exprun.run(["quantize", "random:gpt2?n_layer=1&n_embd=16&n_head=1", "--to", "f32", "--out", model])
        try #require(made.status == 0, "\(made.stderr)")
        let prompts = (1...25).map { "Prompt \($0)" }
        let files = (1...4).map { Exprun.write(experiment("writer-\($0)", model: model, prompts: prompts, tokens: 1, extra: ", threads: [1, 2]")
                                                   .replacingOccurrences(of: "repeats: 2", with: "repeats: 1"), to: dir, name: "w\($0).exp") }
        final class Results: @unchecked Sendable { var all: [Exprun.Result?] = Array(repeating: nil, count: 4); let lock = NSLock() }
        let results = Results()
        let group = DispatchGroup()
        for (i, file) in files.enumerated() {
            group.enter()
            Thread.detachNewThread {
                let r = try? Exprun.run([file, "--db", db, "--no-report"])
                results.lock.lock(); results.all[i] = r; results.lock.unlock()
                group.leave()
            }
        }
        group.wait()
        for r in results.all { #expect(r?.status == 0, "\(r?.stderr.suffix(500) ?? "no result")") }
        let runs = try wholeRuns(db, repeats: 1)
        #expect(runs.count == 200)
        let perExperiment = try rows(db, "SELECT experiment.name AS name, COUNT(*) AS n, COUNT(DISTINCT run.key) AS keys FROM run JOIN experiment ON experiment.id = run.experiment_id GROUP BY experiment.name ORDER BY name")
        #expect(perExperiment.map { $0["name"] as String } == ["writer-1", "writer-2", "writer-3", "writer-4"])
        #expect(perExperiment.allSatisfy { ($0["n"] as Int) == 50 && ($0["keys"] as Int) == 50 })
    }

    /// A run that needs more memory than the limit (`prlimit --as`, inherited by the children): stored
    /// as failed with "out of memory"; the configuration that fits completes.
    @Test func aChildOutOfMemoryIsAFailedRunAndTheOthersComplete() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        // 800 MiB of address space: room for exprun and the tiny model, not for GPT-2 medium's 1.4 GB of fp32 weights.
        let file = Exprun.write("""
            name: e2e-oom
            model: [\(Exprun.tinyModel), "random:gpt2?n_layer=24&n_embd=1024&n_head=16"]
            weights: random
            prompts: [Hello]
            generate: {max_new_tokens: 2}
            measure: {repeats: 1, warmup: 0}
            """, to: dir)
        let result = try runCommand(["prlimit", "--as=\(800 << 20)", Exprun.binary, file, "--db", db, "--no-report"])
        #expect(result.status == 1, "\(result.stderr)")
        let runs = try rows(db, "SELECT model, status, error FROM run ORDER BY id")
        #expect(runs.map { $0["status"] as String } == ["ok", "failed"], "\(runs)")
        let error = runs.last?["error"] as String? ?? ""
        #expect(error.hasPrefix("out of memory: failed to allocate"), "\(error)")
        #expect(error.hasSuffix("(address-space limit 800 MiB)"), "\(error)")
        #expect(result.stderr.contains("FAILED: out of memory"))
    }

    @Test func aModelFileThatChangesIsReportedNeverMixed() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let model = dir + "/model"
        try FileManager.default.copyItem(atPath: Exprun.tinyModel, toPath: model)
        let weights = model + "/model.safetensors"
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: weights)
        let two = Exprun.write(experiment("e2e-model", model: model, prompts: Array(Self.prompts.prefix(2))), to: dir, name: "two.exp")
        let all = Exprun.write(experiment("e2e-model", model: model), to: dir, name: "all.exp")
        let first = try Exprun.run([two, "--db", db, "--no-report"])
        try #require(first.status == 0, "\(first.stderr)")
        let before = try SHA256.hex(fileAt: weights)

        // Between sessions: a resume would mix the two files, so it is refused before anything runs.
        try flipLastByte(weights)
        let resumed = try Exprun.run([all, "--db", db, "--no-report"])
        #expect(resumed.status == 1)
        #expect(resumed.stderr.contains("file model.safetensors changed since 2 stored run(s) of this experiment were measured (sha256 then \(before.prefix(12))…"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("--force"))
        #expect(try wholeRuns(db, repeats: 2).count == 2)

        // During a session: the run measured while the file changed is not stored.
        try flipLastByte(weights)      // back to the stored file
        let run = try Background([all, "--db", db, "--no-report"])
        let child = try #require(waitForChild(of: run.pid, storedRuns: 3, db: db), "no second new run started")
        kill(child, SIGSTOP)
        try flipLastByte(weights)
        kill(child, SIGCONT)
        let during = run.finish()
        #expect(during.status == 1)
        #expect(during.stderr.contains("file \(weights) changed while"), "\(during.stderr)")
        #expect(during.stderr.contains("(that run is not stored)"))
        let kept = try wholeRuns(db, repeats: 2)
        #expect(kept.count == 3)
        let hashes = try rows(db, "SELECT DISTINCT model_files FROM environment")
        #expect(hashes.count == 1 && (hashes[0]["model_files"] as String).contains(before))

        // --force measures everything again on the new file: one file's sha256 throughout.
        let forced = try Exprun.run([all, "--db", db, "--no-report", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let after = try SHA256.hex(fileAt: weights)
        let now = try rows(db, "SELECT DISTINCT model_files FROM environment")
        #expect(now.count == 1 && (now[0]["model_files"] as String).contains(after))
        #expect(try wholeRuns(db, repeats: 2).count == Self.prompts.count)
    }
}

// MARK: helpers

/// Every run in `db`: each must be whole (status ok, `repeats` measurements and outputs, one
/// environment row), the database must pass SQLite's integrity check, and no key may repeat.
@discardableResult
func wholeRuns(_ db: String, repeats: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Row] {
    #expect(try rows(db, "PRAGMA integrity_check").map { $0[0] as String } == ["ok"], sourceLocation: sourceLocation)
    let runs = try rows(db, """
        SELECT run.id, run.experiment_id, run.key, run.status,
            (SELECT COUNT(*) FROM measurement WHERE run_id = run.id) AS measurements,
            (SELECT COUNT(*) FROM output WHERE run_id = run.id) AS outputs,
            (SELECT COUNT(*) FROM environment WHERE run_id = run.id) AS environments
        FROM run ORDER BY run.id
        """)
    for r in runs {
        #expect(r["status"] as String == "ok", sourceLocation: sourceLocation)
        #expect(r["measurements"] as Int == repeats && r["outputs"] as Int == repeats && r["environments"] as Int == 1,
                "run \(r["id"] as Int64) is not whole", sourceLocation: sourceLocation)
    }
    #expect(Set(runs.map { "\($0["experiment_id"] as Int64)/\($0["key"] as String)" }).count == runs.count, sourceLocation: sourceLocation)
    return runs
}

/// An exprun started in the background whose output is collected.
final class Background: @unchecked Sendable {
    let process: Process
    private var out = Data(), err = Data()
    private let readers = DispatchGroup()
    var pid: Int32 { process.processIdentifier }

    init(_ arguments: [String]) throws {
        let (p, stdout, stderr) = try Exprun.start(arguments, environment: [:])
        process = p
        readers.enter(); Thread.detachNewThread { self.out = stdout.fileHandleForReading.readDataToEndOfFile(); self.readers.leave() }
        readers.enter(); Thread.detachNewThread { self.err = stderr.fileHandleForReading.readDataToEndOfFile(); self.readers.leave() }
    }

    func finish(timeout: Double = 300) -> Exprun.Result {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        readers.wait()
        return Exprun.Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

/// Runs a command (found on PATH) to its end.
func runCommand(_ arguments: [String], environment: [String: String] = [:]) throws -> Exprun.Result {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let o = Box(), e = Box(), group = DispatchGroup()
    group.enter(); Thread.detachNewThread { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter(); Thread.detachNewThread { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    p.waitUntilExit(); group.wait()
    return Exprun.Result(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self), stderr: String(decoding: e.data, as: UTF8.self))
}

/// Children of `pid`, from /proc.
func childPIDs(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { name -> Int32? in
        guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")   // state, ppid, ...
        return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
    }
}

/// Waits until `db` holds at least `storedRuns` runs and `pid` has a child (the next run); nil
/// if exprun ended or 300 s passed first.
func waitForChild(of pid: Int32, storedRuns: Int, db: String) -> Int32? {
    let deadline = Date().addingTimeInterval(300)
    while Date() < deadline && kill(pid, 0) == 0 {
        let stored = FileManager.default.fileExists(atPath: db) ? ((try? rows(db, "SELECT COUNT(*) AS n FROM run").first?["n"] as Int?) ?? 0) : 0
        if stored >= storedRuns, let child = childPIDs(of: pid).first { return child }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return nil
}

/// Whether process `pid` has a handler for `signal` (SigCgt in /proc/PID/status).
func handles(_ signal: Int32, _ pid: Int32) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
          let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
    return mask & (1 << (UInt64(signal) - 1)) != 0
}

func waitUntil(_ seconds: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline { if condition() { return true }; Thread.sleep(forTimeInterval: 0.005) }
    return false
}

/// True once `pid` has exited (gone, or a zombie waiting for its new parent), within 10 s.
func processGone(_ pid: Int32) -> Bool {
    let deadline = Date().addingTimeInterval(10)
    repeat {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        if stat[stat.index(after: close)...].hasPrefix(" Z") { return true }
        Thread.sleep(forTimeInterval: 0.05)
    } while Date() < deadline
    return false
}

func flipLastByte(_ path: String) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[data.count - 1] ^= 0x01
    try data.write(to: URL(fileURLWithPath: path))
}
