// The sixteen-lane exp and GELU against their scalar references (Foundation's expf and tanhf), over
// the whole range GPT-2's activations take and beyond, including the scalar tail of odd lengths.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct ActivationTests {
    /// Values from −90 to 90, dense near 0, where GELU bends.
    static let inputs: [Float] = (-9000...9000).map { Float($0) / 100 } + (-2000...2000).map { Float($0) / 10000 }

    @Test func expIsWithinTwoUlpOfTheLibrary() {
        for start in stride(from: 0, to: Self.inputs.count - 16, by: 16) {
            let v = Activation.V(Self.inputs[start..<start + 16])
            let e = Activation.exp(v)
            for k in 0..<16 {
                let x = v[k]
                guard x > -87.3, x < 88.3 else { continue }
                let want = Foundation.exp(x)
                #expect(abs(e[k] - want) <= 2 * want.ulp, "exp(\(x)) = \(e[k]), library \(want)")
            }
        }
    }

    @Test(arguments: [16 * 600, 16 * 600 + 7, 5])
    func geluTanhMatchesTheScalarForm(count: Int) {
        var g = SeededRandom(seed: UInt64(count))
        var x = (0..<count).map { i in Self.inputs[(i * 7919) % Self.inputs.count] }
        for i in stride(from: 0, to: count, by: 3) { x[i] = (g.nextUnitFloat() - 0.5) * 12 }
        var y = x
        y.withUnsafeMutableBufferPointer { Activation.geluTanh($0.baseAddress!, count: count) }
        for i in 0..<count {
            let want = GPT2.geluTanh(x[i])
            // Relative to x: GELU is x times a factor in [0, 1], which is what both round.
            #expect(abs(y[i] - want) <= 4e-7 * max(abs(x[i]), 1e-3), "gelu(\(x[i])) = \(y[i]), scalar \(want)")
        }
    }

    @Test func siluMatchesTheScalarForm() {
        var x = Self.inputs
        x.withUnsafeMutableBufferPointer { Activation.silu($0.baseAddress!, count: $0.count) }
        for (i, v) in Self.inputs.enumerated() {
            let want = v / (1 + Foundation.exp(-v))
            #expect(abs(x[i] - want) <= 4e-7 * max(abs(v), 1e-3), "silu(\(v)) = \(x[i]), scalar \(want)")
        }
    }
}

extension ActivationTests {
    @Test(arguments: [1, 15, 16, 100])
    func softmaxNumeratorsMatchTheLibrary(count: Int) {
        var x = (0..<count).map { Float($0 % 13) * 0.7 - 3 }
        let m = x.max()!
        let original = x
        let sum = x.withUnsafeMutableBufferPointer { Activation.softmaxNumerators($0.baseAddress!, count: count, max: m) }
        var want: Float = 0
        for (i, v) in original.enumerated() {
            let e = Foundation.exp(v - m)
            want += e
            #expect(abs(x[i] - e) <= 2 * e.ulp)
        }
        #expect(abs(sum - want) <= 1e-6 * want)
    }
}
