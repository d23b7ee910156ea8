// Test support for the bitsandbytes oracles: typed views of oracle tensors (read with the core's
// safetensors reader) and a seeded generator for random-shape tests.
import Foundation
@testable import InferenceCore

enum BnbOracle {
    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: Fixture.tiny + "/" + name)
    }
}

extension SafeTensorsFile {
    func floats(_ name: String) throws -> [Float] { Array(try tensor(name).floats) }
    func bytes(_ name: String) throws -> [UInt8] {
        let t = try tensor(name)
        guard t.dtype == .u8 || t.dtype == .i8 else { throw CoreError.invalid("\(name) is \(t.dtype.rawValue), not 8-bit") }
        return Array(UnsafeBufferPointer(start: t.raw.assumingMemoryBound(to: UInt8.self), count: t.count))
    }
    func int8s(_ name: String) throws -> [Int8] { try bytes(name).map { Int8(bitPattern: $0) } }
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
    /// Roughly normal values (sum of four uniforms), scaled.
    mutating func normals(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in ((0..<4).reduce(Float(0)) { s, _ in s + Float.random(in: -1...1, using: &self) }) * scale }
    }
}
