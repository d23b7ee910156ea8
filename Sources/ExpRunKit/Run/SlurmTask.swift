// One task of a submission's job array (`exprun slurm-task DIR`, what task.sh runs): its rounds,
// each in a fresh `exprun run-one` child exactly as the local runner runs them (same child, same
// record, same environment plus the Slurm job and node), each record added to the task's own shard
// as soon as it is measured. A task that Slurm restarts (requeue) skips the rounds its shard holds;
// one that is killed leaves a complete shard of the rounds it finished, and the merge job records
// the rest as failed.
import Foundation
import InferenceCore

public enum SlurmTask {
    /// Runs task `index` of the submission in `directory`; returns how many of its rounds failed.
    public static func run(directory: String, index: Int, version: String) throws -> Int {
        let submission = try SlurmSubmission.read(directory: directory)
        guard submission.tasks.indices.contains(index) else {
            throw RunnerError.invalid("\(directory): task \(index) is not one of this submission's \(submission.tasks.count) task(s)")
        }
        let steps = submission.tasks[index], entries = submission.entriesByKey
        let progress = ProgressReporter(total: steps.count, interactive: false)
        let path = submission.shardPath(task: index)
        var shard = (try? Shard.read(path: path)) ?? Shard(path: path, header: ShardHeader(
            experiment: submission.experiment, submission: submission.id, task: index, steps: steps))
        let done = Set(shard.records.map { PlanStep(key: $0.entry.key, round: $0.entry.round ?? 0) })
        try shard.write()

        let runner = ExperimentRunner(executable: submission.executable, version: version, force: false, hub: HubClient())
        var environment = Environment.capture(version: version, experimentText: submission.experiment.specText)
        var hashes: [String: [String: String]] = [:]
        var failed = 0
        for (i, step) in steps.enumerated() {
            guard var entry = entries[step.key] else {
                throw RunnerError.invalid("\(directory)/submission.json: task \(index) names plan key \(step.key), which is not among its entries")
            }
            entry.round = step.round
            let label = "\(entry.model) \(entry.label) threads=\(entry.threads) \(Plan.quote(entry.prompt)) round \(step.round + 1)/\(entry.roundCount)"
            if done.contains(step) {
                progress.finish(i + 1, label: label, outcome: "already in this task's shard, skipped", measured: false)
                continue
            }
            let reference = entry.loaderReference ?? entry.model
            if hashes[reference] == nil {
                hashes[reference] = try Dictionary(ModelLoader.modelFiles(reference).map { file in
                    ((file as NSString).lastPathComponent, try SHA256.hex(fileAt: file))
                }, uniquingKeysWith: { a, _ in a })
            }
            environment.modelFiles = hashes[reference] ?? [:]
            progress.begin(i + 1, label: label)
            var record = runner.runChild(entry, progress: progress)
            record.environment = environment
            shard.records.append(ShardRecord(entry: entry, record: record))
            try shard.write()
            if record.status != .ok { failed += 1 }
            progress.finish(i + 1, label: label, outcome: record.status == .ok ? "stored in \(path)" : "FAILED: \(record.error ?? "unknown error")",
                            measured: true)
        }
        return failed
    }
}
