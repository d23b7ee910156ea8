// Element-wise nonlinearities over buffers, sixteen lanes at a time. Foundation's tanh and exp are
// scalar library calls: on GPT-2's MLP (3072 values per token per layer) they took 17% of prefill
// and 7% of decode. GELU's tanh form is rewritten without tanh,
//   0.5·x·(1 + tanh(u)) = x / (1 + e^(−2u)),   u = √(2/π)·(x + 0.044715·x³),
// which also has no cancellation near u = 0. `exp` is Cephes' expf: n = round(x / ln 2), the
// remainder reduced by ln 2 in two parts, a degree-6 polynomial, then 2ⁿ put in the exponent bits;
// within 2 ulp of the correctly rounded value on [−87, 88]. The scalar forms (`GPT2.geluTanh`,
// Foundation.exp) are the references the tests compare with.
import Foundation

enum Activation {
    typealias V = SIMD16<Float>

    /// e^x in each lane; inputs are clamped to [−87.3, 88.4] (e^x then is about 1e-38 or 2.4e38, not
    /// 0 or inf). Written with masks and bit casts only: the generic `clamped` and Float → Int32
    /// lane conversions of the standard library are element-by-element calls.
    @inline(__always)
    static func exp(_ x: V) -> V {
        var x = x.replacing(with: -87.33654, where: x .< -87.33654)
        x = x.replacing(with: 88.37626, where: x .> 88.37626)
        // n = round(x / ln 2): adding 1.5·2²³ leaves n in the low mantissa bits.
        let shifted = x * 1.44269504088896341 + 12582912
        let n = shifted - 12582912
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// gelu_new / gelu_pytorch_tanh in place.
    static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let p = UnsafeMutableRawPointer(x + i)
            let v = p.loadUnaligned(as: V.self)
            let twoU = 1.5957691216057308 * (v + 0.044715 * v * v * v)
            p.storeBytes(of: v / (1 + exp(-twoU)), as: V.self)
            i += 16
        }
        for j in i..<count { x[j] = GPT2.geluTanh(x[j]) }
    }

    /// x ← e^(x − max) in place, returning their sum (a softmax before its division).
    static func softmaxNumerators(_ x: UnsafeMutablePointer<Float>, count: Int, max m: Float) -> Float {
        var i = 0, sums = V()
        while i + 16 <= count {
            let p = UnsafeMutableRawPointer(x + i)
            let e = exp(p.loadUnaligned(as: V.self) - m)
            p.storeBytes(of: e, as: V.self)
            sums += e
            i += 16
        }
        var sum = F32Linear.horizontalSum(sums)
        for j in i..<count { let e = Foundation.exp(x[j] - m); x[j] = e; sum += e }
        return sum
    }

    /// SiLU (x·sigmoid(x)) in place.
    static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let p = UnsafeMutableRawPointer(x + i)
            let v = p.loadUnaligned(as: V.self)
            p.storeBytes(of: v / (1 + exp(-v)), as: V.self)
            i += 16
        }
        for j in i..<count { x[j] = x[j] / (1 + Foundation.exp(-x[j])) }
    }
}
