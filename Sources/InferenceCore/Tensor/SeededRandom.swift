// A small, fast, seedable random number generator (xoshiro256**, Blackman & Vigna 2018) seeded
// through SplitMix64, so that sampling and synthetic weights are reproducible from one integer on
// every platform (Swift's SystemRandomNumberGenerator cannot be seeded).
import Foundation

public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 bits, the resolution of a Float.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Fills `dst` with N(0, std²) samples (Marsaglia's polar method: no sine or cosine, both
    /// outputs of a pair used; single precision is plenty for initial weights).
    public mutating func fillNormal(_ dst: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        var i = 0
        while i < count {
            var u: Float, v: Float, s: Float
            repeat {
                u = 2 * nextUnitFloat() - 1
                v = 2 * nextUnitFloat() - 1
                s = u * u + v * v
            } while s >= 1 || s == 0
            let f = (-2 * Foundation.log(s) / s).squareRoot() * std
            dst[i] = u * f
            if i + 1 < count { dst[i + 1] = v * f }
            i += 2
        }
    }
}
