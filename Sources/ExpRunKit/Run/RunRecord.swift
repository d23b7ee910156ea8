// What one run measured: the JSON record a child prints on its stdout (one round of the run),
// which the parent completes with the environment and stores. The same struct is read back from
// the database for reports, then holding every round, so a field exists once. Quality figures are
// nullable: they stay empty when not measured (and only the first round measures them), and
// reports say so.
import Foundation
import InferenceCore

public struct RunRecord: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case ok, failed }

    public var key: String
    public var status: Status
    /// Why it failed, one line (the child's error, its exit status, or the timeout).
    public var error: String?
    /// The last lines the child wrote on stderr, kept for failed runs.
    public var stderrTail: String?
    public var startedAt: Date
    public var finishedAt: Date

    public var weights: WeightSummary?
    public var memory: MemoryFigures?
    public var loadSeconds: Double?
    /// GPTQ / AWQ: the calibration pass (inside `loadSeconds`), its data and peak memory.
    public var calibration: CalibrationRecord?
    public var promptTokens: [Int]?
    public var newTokensRequested: Int?
    public var repeats: [RepeatRecord] = []
    public var quality = QualityFigures()
    public var environment: EnvironmentRecord?
    /// The round a child's record measured (nil: round 0, or a whole run read back).
    public var round: Int?
    /// Throughput per batch size and quality of an encoder run (EncoderRun.swift); nil for
    /// decoders. Read back, the repeats of every stored round.
    public var encoder: EncoderFigures?
    /// Read back from the database: each stored round's own status, load time and memory. The
    /// run's `memory` and `loadSeconds` are then medians over its successful rounds.
    public var rounds: [RoundRecord] = []

    public init(key: String, status: Status, startedAt: Date, finishedAt: Date) {
        self.key = key; self.status = status; self.startedAt = startedAt; self.finishedAt = finishedAt
    }
}

public struct WeightSummary: Sendable, Codable, Equatable {
    /// Bytes of every tensor as stored (quantized blocks with their scales).
    public var bytes: Int
    public var parameters: Int
    /// bytes × 8 / parameters: what a weight costs, scales included.
    public var bitsPerWeight: Double
    /// Stored bytes per format (`fp32`, `q8_0`), to show what was quantized and what was not.
    public var bytesByFormat: [String: Int]
    /// Why tensors are stored in another format than asked (a row the block does not divide):
    /// one line per distinct reason, with how many tensors and the first one's name.
    public var notes: [String]

    public init(_ weights: [WeightInfo]) {
        bytes = weights.reduce(0) { $0 + $1.storedBytes }
        parameters = weights.reduce(0) { $0 + $1.parameters }
        bitsPerWeight = parameters > 0 ? Double(bytes) * 8 / Double(parameters) : 0
        bytesByFormat = weights.reduce(into: [:]) { $0[$1.format, default: 0] += $1.storedBytes }
        var byNote: [(note: String, names: [String])] = []
        for w in weights {
            guard let note = w.note else { continue }
            if let i = byNote.firstIndex(where: { $0.note == note }) { byNote[i].names.append(w.name) } else { byNote.append((note, [w.name])) }
        }
        notes = byNote.map { n in
            "\(n.note) (\(n.names.count == 1 ? n.names[0] : "\(n.names.count) tensors, e.g. \(n.names[0])"))"
        }
    }
    public init(bytes: Int, parameters: Int, bitsPerWeight: Double, bytesByFormat: [String: Int], notes: [String] = []) {
        self.bytes = bytes; self.parameters = parameters; self.bitsPerWeight = bitsPerWeight
        self.bytesByFormat = bytesByFormat; self.notes = notes
    }
}

/// What a calibrated quantization (gptq, awq) ran on and cost.
public struct CalibrationRecord: Sendable, Codable, Equatable {
    public var method: String
    /// The named text or file the windows were drawn from (nil for given ids).
    public var text: String?
    /// The safetensors file of token ids, when given instead of a text.
    public var ids: String?
    public var samples: Int
    public var tokens: Int
    public var seed: Int?
    /// sha256 of the windows as int32 little-endian, row by row.
    public var idsSHA256: String
    public var seconds: Double
    /// Peak RSS of the process when calibration ended (loading the FP32 model included).
    public var peakRSS: Int?
    public var layers: Int
    /// GPTQ: the largest damping any layer needed.
    public var maxDampPercent: Double?

    public init(_ r: CalibrationReport, peakRSS: Int?) {
        method = r.method; text = r.calibration?.ids == nil ? r.calibration?.text : nil; ids = r.calibration?.ids
        samples = r.samples; tokens = r.tokens; seed = r.calibration?.ids == nil ? r.calibration?.seed : nil
        idsSHA256 = SHA256.hex(r.tokenBytes); seconds = r.seconds; self.peakRSS = peakRSS; layers = r.layers.count
        maxDampPercent = r.layers.compactMap(\.dampPercent).max()
    }

    /// One line for reports: `wikitext-2-raw:train, 128 × 512 tokens, seed 0 (sha256 574efd63…)`.
    public var summary: String {
        let source = ids.map { "ids \($0)" } ?? "\(text ?? "?"), seed \(seed ?? 0)"
        return "\(source), \(samples) × \(tokens) tokens (ids sha256 \(idsSHA256.prefix(12)))"
    }
}

/// Resident memory of the child at the points that matter, in bytes. `anon` is heap (weights read
/// into owned buffers, quantized copies, KV cache); `file` is file-backed pages (memory-mapped
/// weights count here once touched), so a reader sees which is which.
public struct MemoryFigures: Sendable, Codable, Equatable {
    public var source: String           // "proc" (Linux /proc/self/status) or "getrusage"
    public var rssBeforeLoad: Int?
    public var rssAfterLoad: Int?
    public var anonAfterLoad: Int?
    public var fileAfterLoad: Int?
    /// High-water mark of RSS over the whole run (VmHWM; ru_maxrss elsewhere).
    public var peakRSS: Int?
    public var rssAfterGenerate: Int?
    /// After the model is dropped and freed heap is returned to the system (malloc_trim).
    public var rssAfterUnload: Int?
    public var anonAfterUnload: Int?
    public var fileAfterUnload: Int?
    public init(source: String) { self.source = source }

    /// Each figure's median over several rounds' figures (the lower middle value of an even count,
    /// so it is a figure one process really had).
    public static func median(_ all: [MemoryFigures]) -> MemoryFigures? {
        guard let first = all.first else { return nil }
        func mid(_ path: KeyPath<MemoryFigures, Int?>) -> Int? {
            let v = all.compactMap { $0[keyPath: path] }.sorted()
            return v.isEmpty ? nil : v[(v.count - 1) / 2]
        }
        var m = MemoryFigures(source: first.source)
        m.rssBeforeLoad = mid(\.rssBeforeLoad); m.rssAfterLoad = mid(\.rssAfterLoad); m.anonAfterLoad = mid(\.anonAfterLoad)
        m.fileAfterLoad = mid(\.fileAfterLoad); m.peakRSS = mid(\.peakRSS); m.rssAfterGenerate = mid(\.rssAfterGenerate)
        m.rssAfterUnload = mid(\.rssAfterUnload); m.anonAfterUnload = mid(\.anonAfterUnload); m.fileAfterUnload = mid(\.fileAfterUnload)
        return m
    }
}

public struct RepeatRecord: Sendable, Codable, Equatable {
    /// Numbered across the whole run (`PlanEntry.repeatIndices(round:)`), unique with its round.
    public var index: Int
    public var round: Int = 0
    public var prefillSeconds: Double
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    public var timeToFirstToken: Double
    public var totalSeconds: Double
    public var newTokens: Int
    public var tokens: [Int]
    public var text: String?
    public var rssAfter: Int?
    /// Who had the CPU while the repeat ran (nil where the platform cannot tell).
    public var cpu: CPUUsage?
    /// The memory bandwidth the machine gave right before and right after (nil: not probed).
    public var bandwidth: RepeatBandwidth?
    public init(index: Int, round: Int = 0, prefillSeconds: Double, prefillTokensPerSecond: Double, decodeTokensPerSecond: Double,
                timeToFirstToken: Double, totalSeconds: Double, newTokens: Int, tokens: [Int], text: String?, rssAfter: Int?,
                cpu: CPUUsage? = nil, bandwidth: RepeatBandwidth? = nil) {
        self.index = index; self.round = round; self.prefillSeconds = prefillSeconds; self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond; self.timeToFirstToken = timeToFirstToken
        self.totalSeconds = totalSeconds; self.newTokens = newTokens; self.tokens = tokens; self.text = text; self.rssAfter = rssAfter
        self.cpu = cpu; self.bandwidth = bandwidth
    }
}

/// `BandwidthProbe` right before and right after a repeat: GB/s (10⁹ bytes/s) reading the model's
/// decode matrices with the run's threads, and their bytes (what one pass of a probe reads).
public struct RepeatBandwidth: Sendable, Codable, Equatable {
    public var before: Double
    public var after: Double
    public var bytes: Int
    public init(before: Double, after: Double, bytes: Int) { self.before = before; self.after = after; self.bytes = bytes }
    /// What the repeat could count on: the lower of the two.
    public var low: Double { Swift.min(before, after) }
}

/// One round of a run: a process of its own, so a status, a load time and memory figures of its own.
public struct RoundRecord: Sendable, Codable, Equatable {
    public var round: Int
    public var status: RunRecord.Status
    public var error: String?
    public var startedAt: Date
    public var finishedAt: Date
    public var loadSeconds: Double?
    public var memory: MemoryFigures?
    /// The Slurm job and node that measured this round (rounds of one run may run on different nodes).
    public var slurmJob: String?
    public var slurmNode: String?
    public init(round: Int, status: RunRecord.Status, error: String?, startedAt: Date, finishedAt: Date,
                loadSeconds: Double?, memory: MemoryFigures?, slurmJob: String? = nil, slurmNode: String? = nil) {
        self.round = round; self.status = status; self.error = error; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.loadSeconds = loadSeconds; self.memory = memory
        self.slurmJob = slurmJob; self.slurmNode = slurmNode
    }
}

/// Filled by the core's evaluation once it is wired in; nil means "not measured".
public struct QualityFigures: Sendable, Codable, Equatable {
    public var perplexity: Double?
    public var klMean: Double?
    public var klP99: Double?
    public var topTokenAgreement: Double?
    public var firstDivergence: Int?
    public init() {}
}

public struct EnvironmentRecord: Sendable, Codable, Equatable {
    public var cpuModel: String
    public var cpuFlags: String
    public var cores: Int
    public var memoryBytes: Int
    public var os: String
    public var hostname: String
    public var exprunVersion: String
    public var gitCommit: String?
    /// sha256 of each file that defines the model (empty for random weights).
    public var modelFiles: [String: String]
    public var experimentSHA256: String
    /// The Slurm job that measured the run (`12_3`: array job 12, task 3) and its node; nil outside Slurm.
    public var slurmJob: String?
    public var slurmNode: String?
}

extension JSONEncoder {
    /// How records and plan entries travel between processes and into the database.
    public static var runRecord: JSONEncoder { record }
    static var record: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
}
extension JSONDecoder {
    public static var runRecord: JSONDecoder { record }
    static var record: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}
