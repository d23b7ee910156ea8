// The parent side of an experiment: resolve models (Hub download, local paths) before anything is
// written, open the store, then go through the plan round by round (`Plan.schedule`): skip rounds
// already stored, run each other one in a child process with a timeout, complete its record with
// the environment and store it. A child that crashes, is killed or times out becomes a failed
// round (its configuration is not tried again in later rounds) and the experiment goes on. An
// interrupt (Interruption.swift), a model file that changes (ModelFileCheck.swift) or a database
// that cannot take the round (StoreSafety.swift) stops the experiment without storing the round in hand.
import Foundation
import InferenceCore

/// Counted in rounds: one child process each.
public struct RunSummary: Sendable {
    public var planned: Int
    public var skipped: Int
    public var succeeded: Int
    public var failed: Int
}

public struct ExperimentRunner {
    public var executable: String
    public var version: String
    public var force: Bool
    public var hub: HubClient

    public init(executable: String, version: String, force: Bool, hub: HubClient) {
        self.executable = executable; self.version = version; self.force = force; self.hub = hub
    }

    /// Resolves every model of the plan to a loader reference; throws before the database is touched.
    public func resolve(_ plan: Plan) throws -> Plan {
        var plan = plan
        let base = URL(fileURLWithPath: plan.spec.path).deletingLastPathComponent().path
        var resolved: [String: String] = [:]
        for i in plan.entries.indices {
            let e = plan.entries[i]
            let cacheKey = e.model + "|" + e.weights.rawValue
            if resolved[cacheKey] == nil {
                do {
                    resolved[cacheKey] = try ModelReference.resolve(e.model, weights: e.weights, baseDirectory: base, hub: hub)
                } catch let RunnerError.network(why) {
                    throw RunnerError.model(e.model, why)
                }
            }
            plan.entries[i].loaderReference = resolved[cacheKey]
        }
        return plan
    }

    public func run(_ plan: Plan, store: Store, progress: ProgressReporter) throws -> RunSummary {
        let experimentID: Int64
        do { experimentID = try store.saveExperiment(plan.spec, planKeys: plan.entries.map(\.key)) } catch {
            throw Store.explain(error, path: store.path, doing: "storing the experiment")
        }
        let stored = force ? [:] : try store.storedRounds(experiment: plan.spec.name)
        var baseEnvironment = Environment.capture(version: version, experimentText: plan.spec.text)
        let schedule = plan.schedule, rounds = plan.spec.measure.roundCount
        var summary = RunSummary(planned: schedule.count, skipped: 0, succeeded: 0, failed: 0)
        var failedKeys = Set<String>(), measuredKeys = Set<String>()
        let modelFiles = ModelFileCheck(progress: progress)
        if !force { try verifyStoredModelFiles(plan, stored: Set(stored.keys), store: store, check: modelFiles) }
        func interrupted(_ signal: Int32, at i: Int, stopped: String?) -> Interrupted {
            Interrupted(signal: signal, stopped: stopped, stored: summary.succeeded + summary.failed,
                        remaining: schedule[i...].filter { stored[plan.entries[$0.entry].key]?.contains($0.round) != true }.count)
        }

        for (i, step) in schedule.enumerated() {
            if let signal = Interruption.signal { throw interrupted(signal, at: i, stopped: nil) }
            var entry = plan.entries[step.entry]
            entry.round = step.round
            let label = "\(entry.model) \(entry.label) threads=\(entry.threads)" + (plan.spec.prompts.count > 1 ? " \(Plan.quote(entry.prompt))" : "")
                + (rounds > 1 ? " round \(step.round + 1)/\(rounds)" : "")
            if stored[entry.key]?.contains(step.round) == true {
                summary.skipped += 1
                progress.finish(i + 1, label: label, outcome: "already stored, skipped", measured: false)
                continue
            }
            if failedKeys.contains(entry.key) {
                summary.failed += 1
                progress.finish(i + 1, label: label, outcome: "not run: this configuration failed in an earlier round", measured: false)
                continue
            }
            let reference = entry.loaderReference ?? entry.model
            try modelFiles.verifyUnchanged(reference, model: entry.model, during: "during the experiment")
            baseEnvironment.modelFiles = try modelFiles.hashes(of: reference)
            progress.begin(i + 1, label: label)
            var record = runChild(entry, progress: progress)
            // Nothing of a run cut short by an interrupt, or measured on a file that changed meanwhile, is stored.
            if let signal = Interruption.signal { throw interrupted(signal, at: i, stopped: label) }
            try modelFiles.verifyUnchanged(reference, model: entry.model, during: "while \(label) ran (that run is not stored)")
            record.environment = baseEnvironment
            do {
                // --force measures a run afresh: its first round measured now drops what was stored.
                try store.saveRound(experimentID: experimentID, entry: entry, record: record,
                                    replacingRun: force && measuredKeys.insert(entry.key).inserted)
            } catch {
                throw Store.explain(error, path: store.path, doing: "storing the run of \(label)")
            }
            if record.status == .ok, let encoder = record.encoder {
                summary.succeeded += 1
                progress.finish(i + 1, label: label, outcome: EncoderRun.summary(encoder) + String(format: ", peak RSS %.1f MiB", Double(record.memory?.peakRSS ?? 0) / 1_048_576), measured: true)
            } else if record.status == .ok {
                summary.succeeded += 1
                let decode = Statistics(record.repeats.map(\.decodeTokensPerSecond)).median
                progress.finish(i + 1, label: label, outcome: String(format: "%.1f tok/s decode (median of %d), peak RSS %.1f MiB", decode,
                                record.repeats.count, Double(record.memory?.peakRSS ?? 0) / 1_048_576), measured: true)
            } else {
                summary.failed += 1
                failedKeys.insert(entry.key)
                progress.finish(i + 1, label: label, outcome: "FAILED: \(record.error ?? "unknown error")", measured: true)
            }
        }
        return summary
    }

    /// Refuses to resume when the stored runs that would be kept recorded other model files.
    func verifyStoredModelFiles(_ plan: Plan, stored done: Set<String>, store: Store, check: ModelFileCheck) throws {
        let entries = Dictionary(plan.entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var byReference: [String: (model: String, runs: [(key: String, modelFiles: [String: String])])] = [:]
        for run in try store.storedModelFiles(experiment: plan.spec.name) where done.contains(run.key) {
            guard let e = entries[run.key] else { continue }
            byReference[e.loaderReference ?? e.model, default: (e.model, [])].runs.append(run)
        }
        for (reference, stored) in byReference.sorted(by: { $0.key < $1.key }) {
            try check.verifyStored(stored.runs, reference: reference, model: stored.model)
        }
    }

    /// Runs one entry in a child process; every way it can end becomes a record.
    func runChild(_ entry: PlanEntry, progress: ProgressReporter) -> RunRecord {
        let started = Date()
        var failed = RunRecord(key: entry.key, status: .failed, startedAt: started, finishedAt: started)
        failed.round = entry.round
        do {
            let input = try JSONEncoder.record.encode(entry)
            let outcome = try ChildProcess.run(executable: executable, arguments: ["run-one"], input: input,
                                               timeout: entry.timeoutSeconds) { progress.child($0) }
            failed.finishedAt = Date()
            failed.stderrTail = outcome.stderrTail.isEmpty ? nil : outcome.stderrTail
            if outcome.timedOut {
                failed.error = "timed out after \(Int(entry.timeoutSeconds)) s (measure.timeout) and was killed"
                return failed
            }
            if outcome.exitStatus == 0 || !outcome.stdout.isEmpty,
               let record = try? JSONDecoder.record.decode(RunRecord.self, from: outcome.stdout), record.key == entry.key {
                var r = record
                // The child's own last line repeats its error; keep stderr only when it says more.
                if r.status == .failed, let tail = failed.stderrTail, tail != "exprun run-one: \(r.error ?? "")" { r.stderrTail = tail }
                return r
            }
            failed.error = outcome.failure()
            return failed
        } catch {
            failed.finishedAt = Date()
            failed.error = "could not start \(executable) run-one: \(error)"
            return failed
        }
    }
}
