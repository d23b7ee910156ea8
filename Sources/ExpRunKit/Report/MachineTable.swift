// Where each run was measured, for experiments whose runs come from more than one machine or from
// Slurm (a sweep spread over nodes, databases merged from a laptop and a server): one row per
// machine with how many runs it measured, and one row per run with its host, Slurm job and node
// beside its decode speed, so a difference between nodes is seen for what it is rather than taken
// for one between configurations.
import Foundation

enum MachineTable {
    static func context(_ ok: [StoredRun], labeler: Labeler, figures: [Int64: RunSummaryFigures]) -> [String: Any] {
        let placed = ok.compactMap { r in r.record.environment.map { (r, $0) } }
        let hosts = ExperimentReport.unique(placed.map { $0.1.hostname })
        guard hosts.count > 1 || placed.contains(where: { $0.1.slurmJob != nil }) else { return ["hasMachineTable": false] }
        let machines: [[String: Any]] = hosts.map { host in
            let here = placed.filter { $0.1.hostname == host }
            let env = here[0].1
            return ["host": Format.cell(host), "runs": here.count, "cpu": Format.cell(env.cpuModel), "cores": env.cores,
                    "nodes": ExperimentReport.unique(here.compactMap { $0.1.slurmNode }).joined(separator: ", ")]
        }
        // Rounds of one run may have run on different nodes: each round's job, in round order.
        let runs: [[String: Any]] = placed.map { r, env in
            let jobs = r.record.rounds.compactMap(\.slurmJob), nodes = ExperimentReport.unique(r.record.rounds.compactMap(\.slurmNode))
            return ["run": r.id, "config": Format.cell(labeler.full(r.entry)), "host": Format.cell(env.hostname),
                    "node": nodes.isEmpty ? env.slurmNode ?? "–" : nodes.joined(separator: ", "),
                    "job": jobs.isEmpty ? env.slurmJob ?? "–" : jobs.joined(separator: ", "),
                    "decode": figures[r.id].map { Format.median($0.decode, 1) } ?? "–"]
        }
        return ["hasMachineTable": true, "machineRows": machines, "runMachineRows": runs]
    }
}
