// Test support for the bitsandbytes oracles: where ../shared/data is, and a minimal safetensors
// reader (header JSON + raw little-endian data) for the oracle files.
import Foundation
@testable import InferenceCore

enum BnbTestData {
    /// `../shared/data` beside the package root, found from this source file.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/data")

    static func gpt2Tiny(_ file: String) -> URL { root.appendingPathComponent("gpt2-tiny-random/\(file)") }
}

/// The tensors of one safetensors file, read whole (oracle files are small).
struct BnbOracleFile {
    struct Entry { let dtype: String; let shape: [Int]; let bytes: Data }
    let entries: [String: Entry]

    init(_ url: URL) throws {
        let data = try Data(contentsOf: url)
        guard data.count >= 8 else { throw CoreError.file(url.path, "shorter than a safetensors header") }
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n > 0, 8 + n <= data.count,
              let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any]
        else { throw CoreError.file(url.path, "bad safetensors header") }
        var e: [String: Entry] = [:]
        for (key, value) in header where key != "__metadata__" {
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String, let shape = d["shape"] as? [Int],
                  let off = d["data_offsets"] as? [Int], off.count == 2, off[0] <= off[1], 8 + n + off[1] <= data.count
            else { throw CoreError.file(url.path, "bad entry \(key)") }
            e[key] = Entry(dtype: dtype, shape: shape, bytes: data.subdata(in: (8 + n + off[0])..<(8 + n + off[1])))
        }
        entries = e
    }

    func entry(_ key: String) throws -> Entry {
        guard let e = entries[key] else { throw CoreError.invalid("oracle has no tensor \(key)") }
        return e
    }
    func floats(_ key: String) throws -> [Float] {
        let e = try entry(key)
        guard e.dtype == "F32" else { throw CoreError.invalid("\(key) is \(e.dtype), not F32") }
        return e.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    func bytes(_ key: String) throws -> [UInt8] { Array(try entry(key).bytes) }
    func int8s(_ key: String) throws -> [Int8] { try bytes(key).map { Int8(bitPattern: $0) } }
    func int64s(_ key: String) throws -> [Int64] {
        let e = try entry(key)
        guard e.dtype == "I64" else { throw CoreError.invalid("\(key) is \(e.dtype), not I64") }
        return e.bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    }
    func shape(_ key: String) throws -> [Int] { try entry(key).shape }
}

/// Seeded generator so random-shape tests are reproducible (SplitMix64).
struct BnbSeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    /// Roughly normal values (sum of uniforms), scaled.
    mutating func normals(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in ((0..<4).reduce(Float(0)) { s, _ in s + Float.random(in: -1...1, using: &self) }) * scale }
    }
}
