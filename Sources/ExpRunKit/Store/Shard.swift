// A shard: the records one Slurm array task measured, in a file of its own in the shared results
// folder, so that no SQLite file is ever written by several machines over a network file system.
// JSON lines:
//
//   {"shard": {...ShardHeader}}                  which experiment, submission and task; its steps
//   {"entry": {...PlanEntry}, "record": {...}}   one per finished round, as the local runner stores it
//   {"end": {"records": N, "sha256": "..."}}     sha256 of every byte before this line
//
// The task rewrites the whole file after each round (a temporary file renamed over it), so a shard
// is always complete: one without its end line, or whose checksum does not match, was truncated or
// damaged afterwards and is refused whole.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An experiment's row as a shard carries it, so that merging on any machine can create it
/// without the experiment file (whose template or model paths may not exist there).
public struct ExperimentRow: Sendable, Codable, Equatable {
    public var name: String
    public var description: String?
    public var specPath: String
    public var specText: String
    public var weights: String
    public var baseline: String?
    public var charts: [String]
    public var template: String?
    /// Every key of the plan (not only the task's), as a local run stores them.
    public var planKeys: [String]?

    public var specSHA256: String { SHA256.hex(specText) }

    public init(_ spec: ExperimentSpec, planKeys: [String]?) {
        name = spec.name; description = spec.description; specPath = spec.path; specText = spec.text
        weights = spec.weights.rawValue; baseline = spec.measure.baseline; charts = spec.report.charts
        template = spec.report.template; self.planKeys = planKeys
    }
    init(_ stored: StoredExperiment) {
        name = stored.name; description = stored.description; specPath = stored.specPath; specText = stored.specText
        weights = stored.weights; baseline = stored.baseline; charts = stored.charts; template = stored.template
        planKeys = stored.planKeys.map { Array($0).sorted() }
    }
}

/// One round of one plan entry: what an array task runs.
public struct PlanStep: Sendable, Codable, Hashable {
    public var key: String
    public var round: Int
    public init(key: String, round: Int) { self.key = key; self.round = round }
}

public struct ShardHeader: Sendable, Codable, Equatable {
    public var format = 1
    public var experiment: ExperimentRow
    public var submission: String
    public var task: Int
    /// The rounds this task was given, in the order it runs them.
    public var steps: [PlanStep]
    public init(experiment: ExperimentRow, submission: String, task: Int, steps: [PlanStep]) {
        self.experiment = experiment; self.submission = submission; self.task = task; self.steps = steps
    }
}

public struct ShardRecord: Sendable, Codable {
    /// The entry with its `round` set, as the child was given it.
    public var entry: PlanEntry
    public var record: RunRecord
    public init(entry: PlanEntry, record: RunRecord) { self.entry = entry; self.record = record }
}

public struct Shard: Sendable {
    public var path: String
    public var header: ShardHeader
    public var records: [ShardRecord]

    public init(path: String, header: ShardHeader, records: [ShardRecord] = []) {
        self.path = path; self.header = header; self.records = records
    }

    struct HeaderLine: Codable { var shard: ShardHeader }
    struct End: Codable { var records: Int; var sha256: String }
    struct EndLine: Codable { var end: End }

    /// The file's bytes: header, records, end line.
    func encoded() throws -> Data {
        var body = try JSONEncoder.record.encode(HeaderLine(shard: header)) + Data("\n".utf8)
        for r in records { body += try JSONEncoder.record.encode(r) + Data("\n".utf8) }
        return body + (try JSONEncoder.record.encode(EndLine(end: End(records: records.count, sha256: SHA256.hex(body))))) + Data("\n".utf8)
    }

    /// Writes the whole shard to a temporary file beside `path`, flushed, then renamed over it: a
    /// reader (or a task killed meanwhile) sees the old shard or the new one, never half of one.
    public func write() throws {
        let data = try encoded()
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw RunnerError.file(temporary, "cannot be created (is the results folder writable from this node?)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary, path) != 0 { throw RunnerError.file(path, "cannot be replaced: \(String(cString: strerror(errno)))") }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Reads and checks a shard; every way it can be wrong is an error naming the file, the line and the fix.
    public static func read(path: String) throws -> Shard {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunnerError.file(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such shard file")
        }
        let damaged = "was truncated or damaged after its task wrote it; it is not merged. Run its rounds again (`exprun run FILE --slurm` submits what is not stored) or remove it"
        guard data.last == UInt8(ascii: "\n") else { throw RunnerError.file(path, "does not end with a complete line: it \(damaged)") }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        guard let first = lines.first, let header = try? JSONDecoder.record.decode(HeaderLine.self, from: Data(first)).shard else {
            throw RunnerError.file(path, "is not an exprun shard (its first line is not a shard header)")
        }
        guard header.format == 1 else {
            throw RunnerError.file(path, "is a shard of format \(header.format), which this exprun does not know; merge it with the exprun that wrote it")
        }
        guard let last = lines.popLast(), lines.count >= 1, let end = try? JSONDecoder.record.decode(EndLine.self, from: Data(last)).end else {
            throw RunnerError.file(path, "has no end line: it \(damaged)")
        }
        let bodyLength = lines.reduce(0) { $0 + $1.count + 1 }
        guard end.records == lines.count - 1, end.sha256 == SHA256.hex(data.prefix(bodyLength)) else {
            throw RunnerError.file(path, "does not match its end line's checksum: it \(damaged)")
        }
        let planned = Set(header.steps)
        var records: [ShardRecord] = []
        for (i, line) in lines.dropFirst().enumerated() {
            let r: ShardRecord
            do { r = try JSONDecoder.record.decode(ShardRecord.self, from: Data(line)) } catch {
                throw RunnerError.file(path, "line \(i + 2) is not a run record (\(error)); the file \(damaged)")
            }
            let step = PlanStep(key: r.entry.key, round: r.entry.round ?? 0)
            guard r.record.key == r.entry.key, (r.record.round ?? 0) == step.round, planned.contains(step),
                  r.entry.experiment == header.experiment.name else {
                throw RunnerError.file(path, "line \(i + 2) holds a record of \(r.entry.experiment) \(r.entry.shortKey) round \(step.round + 1), which is not one of this task's rounds; the file \(damaged)")
            }
            records.append(r)
        }
        return Shard(path: path, header: header, records: records)
    }
}
