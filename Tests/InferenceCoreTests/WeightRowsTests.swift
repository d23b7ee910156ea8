// WeightRows hands formats a weight a chunk of rows at a time; whatever the chunking, the rows must
// be the weight's rows, and chunks must start where the source's own units do.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct WeightRowsTests {
    @Test func chunksRespectTheFormatsAndTheSourcesUnits() {
        let rows = WeightRows(out: 1000, in: 768, alignedTo: 256) { _, _ in }
        let chunks = rows.chunks(rowMultiple: 8)
        #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == 1000)
        #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(chunks.allSatisfy { $0.lowerBound % 256 == 0 })
    }

    /// Random weights are drawn in blocks of 2^16 values: read a chunk at a time (block-aligned)
    /// or all at once, a tensor is the same, for widths that divide the block and ones that do not.
    @Test(arguments: [768, 100])
    func randomWeightsAreTheSameHoweverTheyAreRead(width: Int) throws {
        let config = try GPT2Config(HFConfig(values: ["model_type": .string("gpt2"), "n_embd": .int(width), "n_head": .int(4),
                                                      "n_layer": .int(1), "vocab_size": .int(3000)], source: "test"))
        let source = ModelLoader.randomSource(config, seed: 3, threads: 2)
        let rows = try source("wte.weight", [3000, width], false)
        let whole = rows.all()
        var chunked = [Float](repeating: .nan, count: whole.count)
        rows.forEachChunk(rowMultiple: 8) { r, v in
            for i in 0..<r.count * width { chunked[r.lowerBound * width + i] = v[i] }
        }
        #expect(chunked == whole)
    }
    /// GPT-2's Conv1D weights are stored [in, out]: the rows handed out are those of a plain
    /// transpose, for sizes that are multiples of the 32-value tile and ones that are not, read
    /// whole or a few rows at a time (each read starting at any row).
    @Test(arguments: [(64, 32), (70, 45), (1, 33), (33, 1)])
    func transposedRowsAreThoseOfAPlainTranspose(stored: (n: Int, out: Int)) {
        let (n, out) = stored
        let values = (0..<n * out).map { Float($0) }          // every value names its position
        let rows = WeightRows(tensor: Tensor(values, shape: [n, out]), transposed: true)
        let plain = (0..<out).flatMap { o in (0..<n).map { i in values[i * out + o] } }
        #expect(rows.out == out && rows.inFeatures == n)
        #expect(rows.all() == plain)
        for (start, count) in [(0, 1), (out - 1, 1), (out / 3, out - out / 3)] where count > 0 {
            var got = [Float](repeating: .nan, count: count * n)
            got.withUnsafeMutableBufferPointer { rows.read(start..<start + count, into: $0.baseAddress!) }
            #expect(got == Array(plain[start * n ..< (start + count) * n]), "rows \(start)..<\(start + count) of \(out)")
        }
    }
}
