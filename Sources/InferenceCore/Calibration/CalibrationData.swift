// The token windows GPTQ and AWQ calibrate on: either drawn from a text the way the GPTQ reference's
// `datautils.get_wikitext2` draws them, or read as given (a safetensors file with an integer tensor
// `[samples, tokens]`), so that a calibration set made by another tool can be used exactly.
//
// Drawing: the whole text is tokenized at once (BOS first where the model's tokenizer adds one),
// then `random.seed(seed)` and per sample `i = random.randint(0, N − tokens − 1)`, window
// `ids[i ..< i + tokens]` — Python's own generator (MT19937 seeded by `init_by_array`, `randint`
// through `getrandbits` with rejection), so the same text and seed give the reference's windows.
import Foundation

/// Where the calibration tokens come from, as an experiment file's `calibration:` section says.
public struct CalibrationConfig: Sendable, Hashable, Codable {
    /// A named text (`wikitext-2-raw:train`) or a path; nil when `ids` is given.
    public var text: String?
    public var samples: Int
    public var tokens: Int
    public var seed: Int
    /// A safetensors file holding one integer tensor `[samples, tokens]`.
    public var ids: String?

    public init(text: String? = nil, samples: Int = 128, tokens: Int = 512, seed: Int = 0, ids: String? = nil) {
        self.text = text; self.samples = samples; self.tokens = tokens; self.seed = seed; self.ids = ids
    }

    /// Short stable label for run keys and reports.
    public var description: String {
        if let ids { return "ids=\(ids)" }
        return "\(text ?? "?"),\(samples)x\(tokens),seed=\(seed)"
    }
}

public enum CalibrationData {
    /// The windows `config` names, `[samples][tokens]`, checked against the model's vocabulary and context.
    public static func load(_ config: CalibrationConfig, tokenizer: Tokenizer?, vocabularySize: Int,
                            contextLength: Int) throws -> [[Int]] {
        let windows: [[Int]]
        if let path = config.ids {
            windows = try read(ids: path)
        } else {
            guard let name = config.text else { throw CoreError.invalid("calibration: give `text` (a named text or a file) or `ids` (a safetensors file of token ids)") }
            guard config.samples > 0, config.tokens > 0 else {
                throw CoreError.invalid("calibration: samples and tokens must be positive (got samples \(config.samples), tokens \(config.tokens))")
            }
            guard let tokenizer else { throw CoreError.invalid("calibration: the model has no tokenizer to tokenize '\(name)'; give `ids` instead") }
            let text = try EvaluationText.load(name)
            let all = Perplexity.tokenize(text, tokenizer: tokenizer)
            guard all.count >= config.tokens + 1 else {
                throw CoreError.invalid("calibration: text '\(name)' has \(all.count) tokens, too few for windows of \(config.tokens) (needs at least \(config.tokens + 1)); use a longer text or fewer tokens")
            }
            windows = draw(from: all, samples: config.samples, tokens: config.tokens, seed: config.seed)
        }
        let length = windows.first?.count ?? 0
        guard length <= contextLength else {
            throw CoreError.invalid("calibration: windows of \(length) tokens exceed the model's context of \(contextLength)")
        }
        for (s, w) in windows.enumerated() {
            if let bad = w.first(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw CoreError.invalid("calibration: sample \(s) holds token id \(bad), outside the vocabulary of \(vocabularySize)")
            }
        }
        return windows
    }

    /// `samples` windows of `tokens` ids as `datautils.get_wikitext2` draws them.
    public static func draw(from ids: [Int], samples: Int, tokens: Int, seed: Int) -> [[Int]] {
        var rng = PythonRandom(seed: UInt64(abs(seed)))
        return (0..<samples).map { _ in
            let i = rng.randint(0, ids.count - tokens - 1)
            return Array(ids[i..<(i + tokens)])
        }
    }

    /// The one integer tensor of a safetensors file, `[samples, tokens]`.
    public static func read(ids path: String) throws -> [[Int]] {
        let file = try SafeTensorsFile(path: path)
        let candidates = file.entries.filter { [.i32, .i64].contains($0.dtype) && $0.shape.count == 2 }
        let entry: SafeTensorsFile.Entry
        if candidates.count == 1 { entry = candidates[0] }
        else if let e = candidates.first(where: { $0.name == "calib_ids" || $0.name == "input_ids" }) { entry = e }
        else {
            throw CoreError.file(path, candidates.isEmpty
                ? "no 2-D integer tensor [samples, tokens] of token ids (I32 or I64)"
                : "several 2-D integer tensors (\(candidates.map(\.name).joined(separator: ", "))); name the ids 'calib_ids' or 'input_ids'")
        }
        let values = try file.tensor(entry.name).toInt64Array()
        guard entry.shape[0] > 0, entry.shape[1] > 0 else { throw CoreError.file(path, "tensor '\(entry.name)' is empty (\(entry.shape))") }
        let t = entry.shape[1]
        return (0..<entry.shape[0]).map { s in values[s * t ..< (s + 1) * t].map { Int($0) } }
    }
}

/// CPython's `random.Random` for integer seeds: MT19937 seeded with `init_by_array` of the seed's
/// 32-bit words, `randint(a, b)` = a + `_randbelow(b − a + 1)` by `getrandbits` and rejection.
struct PythonRandom {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 624

    init(seed: UInt64) {
        var key: [UInt32] = []
        var s = seed
        repeat { key.append(UInt32(truncatingIfNeeded: s)); s >>= 32 } while s > 0
        initGenrand(19_650_218)
        var i = 1, j = 0
        for _ in 0..<max(624, key.count) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<623 {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
        }
        mt[0] = 0x8000_0000
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<624 { mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i) }
        index = 624
    }

    mutating func next32() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % 624] & 0x7FFF_FFFF)
                mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_B0DF)
            }
            index = 0
        }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `getrandbits(k)` for 1 ≤ k ≤ 64.
    mutating func getrandbits(_ k: Int) -> UInt64 {
        if k <= 32 { return UInt64(next32() >> (32 - k)) }
        let low = UInt64(next32()), high = UInt64(next32() >> (64 - k))
        return high << 32 | low
    }

    mutating func randint(_ a: Int, _ b: Int) -> Int {
        let n = UInt64(b - a + 1)
        let k = 64 - n.leadingZeroBitCount
        var r = getrandbits(k)
        while r >= n { r = getrandbits(k) }
        return a + Int(r)
    }
}
