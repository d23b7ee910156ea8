// GELU in its exact form, 0.5·x·(1 + erf(x/√2)) (BERT's `hidden_act: gelu`), sixteen lanes at a
// time. Foundation's erf is a scalar library call: on all-MiniLM-L6-v2 it would run 1,536 times per
// token per layer. erf here is Abramowitz & Stegun 7.1.26,
//   erf(z) = 1 − (a1·t + a2·t² + a3·t³ + a4·t⁴ + a5·t⁵)·e^(−z²),  t = 1/(1 + p·z),  z ≥ 0,
// absolute error below 1.5e-7, the same formula PyTorch's vectorized CPU erf uses; e^x is the
// sixteen-lane `Activation.exp`. `GPT2.geluErf` (Foundation.erf) is the reference the tests compare with.
import Foundation

extension Activation {
    static func erf(_ x: V) -> V {
        let z = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + 0.3275911 * z)
        var poly = V(repeating: 1.061405429)
        poly = poly * t - 1.453152027
        poly = poly * t + 1.421413741
        poly = poly * t - 0.284496736
        poly = poly * t + 0.254829592
        let r = 1 - poly * t * exp(-z * z)
        return r.replacing(with: -r, where: x .< 0)
    }

    /// gelu (the erf form) in place.
    static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let p = UnsafeMutableRawPointer(x + i)
            let v = p.loadUnaligned(as: V.self)
            p.storeBytes(of: 0.5 * v * (1 + erf(v * 0.7071067811865476)), as: V.self)
            i += 16
        }
        for j in i..<count { x[j] = GPT2.geluErf(x[j]) }
    }
}
