// SHA-256 (FIPS 180-4), written out because Foundation on Linux has no CryptoKit and the package
// takes no crypto dependency for one hash. Used for plan keys, the sha256 of model and experiment
// files in the environment record, and checking Hub downloads against their `X-Linked-Etag`.
import Foundation

public struct SHA256 {
    private var state: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() {}

    public mutating func update<D: DataProtocol>(_ data: D) {
        length &+= UInt64(data.count)
        var bytes = buffer
        bytes.append(contentsOf: data)
        let whole = bytes.count / 64 * 64
        if whole > 0 { compressBlocks(bytes, count: whole) }
        buffer = Array(bytes[whole...])
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var tail = buffer
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        compressBlocks(tail, count: tail.count)
        buffer = []
        return state.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
    }

    /// The compression function over `count / 64` blocks. Written over raw pointers because model
    /// files are hundreds of megabytes and debug builds (tests) are slow on array subscripts.
    private mutating func compressBlocks(_ bytes: [UInt8], count: Int) {
        let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        defer { w.deallocate() }
        bytes.withUnsafeBufferPointer { input in
            Self.k.withUnsafeBufferPointer { kp in
                state.withUnsafeMutableBufferPointer { h in
                    let k = kp.baseAddress!
                    var offset = 0
                    while offset < count {
                        let block = input.baseAddress! + offset
                        for t in 0..<16 {
                            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16 | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
                        }
                        for t in 16..<64 {
                            let a = w[t - 15], b = w[t - 2]
                            let s0 = (a >> 7 | a << 25) ^ (a >> 18 | a << 14) ^ (a >> 3)
                            let s1 = (b >> 17 | b << 15) ^ (b >> 19 | b << 13) ^ (b >> 10)
                            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                        }
                        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
                        for t in 0..<64 {
                            let S1 = (e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)
                            let ch = (e & f) ^ (~e & g)
                            let t1 = hh &+ S1 &+ ch &+ k[t] &+ w[t]
                            let S0 = (a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)
                            let maj = (a & b) ^ (a & c) ^ (b & c)
                            hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ S0 &+ maj
                        }
                        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
                        offset += 64
                    }
                }
            }
        }
    }

    public static func hex<D: DataProtocol>(_ data: D) -> String {
        var h = SHA256(); h.update(data); return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
    public static func hex(_ string: String) -> String { hex(Data(string.utf8)) }

    /// Streams a file through the hash in 4 MiB pieces (model files are hundreds of MB).
    public static func hex(fileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RunnerError.file(path, "cannot be opened for reading")
        }
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { h.update(chunk) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
