// Calibrated quantization refuses bad input with one error that names the field or the layer and
// the fix: a calibration text shorter than its windows, unsupported bits, a Hessian no dampening
// makes positive definite. (A group size larger than a layer and a failed run beside the others:
// CalibrationEndToEndTests; a checkpoint whose qweight contradicts its config: GroupQuantizedTests.)
import Foundation
import Testing
@testable import InferenceCore

@Suite struct CalibrationErrorTests {
    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func calibrationTextShorterThanItsWindows() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("short-calibration-\(getpid()).txt").path
        try "Hello world, a short text.".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let model = try ModelLoader.load(Fixture.tiny)
        let config = QuantizationConfig(method: "gptq", parameters: ["group_size": 32],
                                        calibration: CalibrationConfig(text: file, samples: 2, tokens: 64, seed: 0))
        let m = Self.message { _ = try Calibration.quantize(model, config: config) }
        #expect(m.contains("calibration: text '\(file)' has 7 tokens, too few for windows of 64 (needs at least 65); use a longer text or fewer tokens"), "\(m)")
    }

    @Test func unsupportedBits() throws {
        let model = try ModelLoader.load(Fixture.tiny)
        let set = CalibrationConfig(text: "wikitext-2-raw:train", samples: 1, tokens: 16, seed: 0)
        let gptq = Self.message { _ = try Calibration.quantize(model, config: QuantizationConfig(method: "gptq", parameters: ["bits": 5], calibration: set)) }
        #expect(gptq.contains("gptq: bits must be one of 2, 3, 4, 8, got 5"), "\(gptq)")
        let awq = Self.message { _ = try Calibration.quantize(model, config: QuantizationConfig(method: "awq", parameters: ["bits": 3], calibration: set)) }
        #expect(awq.contains("awq: bits must be 4 (AWQ's GEMM layout holds 4-bit codes), got 3"), "\(awq)")
    }

    /// A Hessian with a negative diagonal: more dampening only makes it worse.
    @Test func hessianThatDampeningCannotFix() throws {
        let n = 8
        let h = (0..<n * n).map { $0 % (n + 1) == 0 ? Float(-1) : 0 }
        let w = (0..<4 * n).map { Float($0 % 7) / 7 - 0.5 }
        let m = Self.message {
            _ = try GPTQ.quantize(weight: w, out: 4, in: n, hessian: h, config: GPTQConfiguration(bits: 4, groupSize: -1),
                                  layer: "blk.3.ffn_down", pool: ThreadPool(threads: 1))
        }
        #expect(m.contains("blk.3.ffn_down: the Hessian is not positive definite even with damp_percent up to"), "\(m)")
        #expect(m.contains("give more calibration samples or a larger damp_percent"), "\(m)")
    }
}
