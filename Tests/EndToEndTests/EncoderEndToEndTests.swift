// Encoder experiments and `exprun embed` through the real binary, on the small random BERT of
// Tests/InferenceCoreTests/Oracles/bert (sentence-transformers' outputs for it are the oracle):
// the embeddings `embed` writes are sentence-transformers', and an experiment stores per batch size
// timed repeats, cosine and recall@k that the library recomputes to the same values, and renders the
// encoder report from them.
import Foundation
import GRDB
import InferenceCore
import Testing
@testable import ExpRunKit

@Suite(.serialized) struct EncoderEndToEndTests {
    static let tinyBERT = Exprun.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/bert/tiny-random").path
    static let oracle = Exprun.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/bert/tiny-random-oracle")
    struct Meta: Decodable { struct S: Decodable { var text: String; var input_ids: [Int] }; var sentences: [S] }
    static let texts = try! JSONDecoder().decode(Meta.self, from: Data(contentsOf: oracle.appendingPathExtension("json"))).sentences

    @Test func embedWritesSentenceTransformersEmbeddingsAndTokenizeAddsClsSep() throws {
        let dir = Exprun.temporaryDirectory()
        let out = dir + "/e.safetensors"
        let texts = Self.texts.map(\.text)
        let r = try Exprun.run(["embed", Self.tinyBERT] + texts + ["--out", out, "--batch-size", "3", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("20 text(s)") && r.stderr.contains("truncated to max_seq_length 24"))
        let got = try SafeTensorsFile(path: out).tensor("embeddings")
        #expect(got.shape == [20, 32])
        let expected = try SafeTensorsFile(path: Self.oracle.path + ".safetensors").tensor("pooled.cls.default").toFloatArray()
        #expect(zip(try got.toFloatArray(), expected).allSatisfy { abs($0 - $1) < 1e-5 })
        let printed = try Exprun.run(["embed", Self.tinyBERT, "Hello", ""])
        #expect(printed.status == 0 && printed.stdout.split(separator: "\n").count == 2)
        #expect(printed.stdout.contains("(5 tokens)") && printed.stdout.contains("(2 tokens)"))
        let tok = try Exprun.run(["tokenize", Self.tinyBERT, "Hello"])
        #expect(tok.status == 0 && tok.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == Self.texts[19].input_ids.map(String.init).joined(separator: " "))
        let bad = try Exprun.run(["embed", Exprun.tinyModel, "Hello"])
        #expect(bad.status == 1 && bad.stderr.contains("model_type 'gpt2' is not an encoder exprun knows (known: bert)"))
    }

    @Test func experimentStoresThroughputAndQualityAndReportsThem() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/results/exprun.sqlite"
        let texts = Self.texts.map(\.text)
        let yamlTexts = texts.map { ParsedJSON.quote($0) }.joined(separator: ", ")
        let file = Exprun.write("""
            name: e2e-encoder
            model: \(Self.tinyBERT)
            quantizations: [fp32, q8_0]
            texts: [\(yamlTexts)]
            measure: {batch_sizes: [1, 8], timed_texts: 12, repeats: 3, rounds: 2, warmup: 1, threads: [1, 2], baseline: fp32}
            report: {charts: [memory, throughput, quality]}
            """, to: dir)
        let result = try Exprun.run([file, "--db", db])
        #expect(result.status == 0, "\(result.stderr)")
        let runs = try rows(db, "SELECT * FROM run ORDER BY id")
        #expect(runs.count == 4)
        // Each round a process of its own storing its share of the 3 repeats (2, then 1) at each
        // batch size, numbered across the run; quality only in round 0.
        var figures: [String: EncoderFigures] = [:]
        for run in runs {
            #expect(run["status"] as String == "ok", "\(String(describing: run["error"] as String?))")
            #expect((run["peak_rss"] as Int) >= (run["weight_bytes"] as Int))
            let rounds = try rows(db, "SELECT * FROM run_round WHERE run_id = \(run["id"] as Int64) ORDER BY round")
            #expect(rounds.map { $0["round"] as Int } == [0, 1])
            var repeats: [Int: [Int]] = [:]
            for round in rounds {
                #expect(round["status"] as String == "ok")
                let f = try JSONDecoder.runRecord.decode(EncoderFigures.self, from: Data((round["encoder"] as String).utf8))
                #expect(f.texts == 20 && f.timedTexts == 12 && f.maxSequenceLength == 24 && f.dimension == 32)
                #expect(f.timedTokens == Self.texts.prefix(12).reduce(0) { $0 + $1.input_ids.count })
                #expect(f.truncated == Self.texts.filter { $0.input_ids.count == 24 }.count && f.truncated > 0)
                #expect(f.batches.map(\.batchSize) == [1, 8])
                #expect(f.batches[1].repeats.allSatisfy { $0.batches == 2 && $0.texts == 12 && $0.seconds > 0 && $0.round == round["round"] as Int })
                #expect(f.batches.allSatisfy { $0.repeats.allSatisfy { $0.cpu != nil } })
                for b in f.batches { repeats[b.batchSize, default: []] += b.repeats.map(\.index) }
                if round["round"] as Int == 1 { #expect(f.cosineMean == nil) } else { figures["\(run["quantization"] as String)|\(run["threads"] as Int)"] = f }
            }
            #expect(repeats == [1: [0, 1, 2], 8: [0, 1, 2]])
        }
        // Quality once per configuration (with the most threads), none for the baseline itself.
        #expect(figures["fp32|2"]?.cosineMean == nil && figures["q8_0|1"]?.cosineMean == nil)
        let q = try #require(figures["q8_0|2"])
        // The library recomputes what the child stored: cosine of each text's two embeddings, and
        // recall@10 of nearest neighbours by brute force here.
        let base = try SentenceEncoder.load(Self.tinyBERT).encode(texts, batchSize: 8)
        let mine = try SentenceEncoder.load(Self.tinyBERT, quantization: QuantizationConfig(method: "q8_0")).encode(texts, batchSize: 8)
        func unit(_ v: ArraySlice<Float>) -> [Double] { let n = v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(); return v.map { Double($0) / n } }
        let a = (0..<20).map { unit(mine.vector($0)) }, b = (0..<20).map { unit(base.vector($0)) }
        func dot(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        let cosines = (0..<20).map { dot(a[$0], b[$0]) }
        #expect(abs(q.cosineMean! - cosines.reduce(0, +) / 20) < 1e-5 && abs(q.cosineMin! - cosines.min()!) < 1e-5)
        #expect(q.cosineMin! < 0.99999 && q.cosineMin! > 0.9)
        // ("" and "   " embed alike: exact ties, broken by index as the library breaks them; a
        // near-tie that Float and Double order differently may move one neighbour, 0.005.)
        func top10(_ v: [[Double]], _ i: Int) -> Set<Int> {
            Set((0..<20).filter { $0 != i }.sorted { let x = dot(v[i], v[$0]), y = dot(v[i], v[$1]); return x != y ? x > y : $0 < $1 }.prefix(10))
        }
        let recall = (0..<20).reduce(0.0) { $0 + Double(top10(a, $1).intersection(top10(b, $1)).count) / 10 } / 20
        #expect(q.recallK == 10 && abs(q.recall! - recall) < 0.011)

        let report = try String(contentsOfFile: dir + "/results/e2e-encoder/report.md", encoding: .utf8)
        #expect(report.contains("(sentence encoder)") && !report.contains("decode tok/s") && !report.contains("## Generated text"))
        #expect(report.contains("of the 20 texts were cut"))
        let throughput = markdownTable(report, after: "## Throughput")
        #expect(throughput.count == 8)
        // The report reads the rounds back as one run: its cells are the statistics of the kept repeats of both rounds.
        let stored = try Store(path: db).runs(experiment: "e2e-encoder")
        for row in throughput {
            let run = try #require(stored.first { String($0.id) == row[0] })
            let batch = try #require(run.record.encoder?.batches.first { String($0.batchSize) == row[2] })
            #expect(batch.repeats.map(\.index) == [0, 1, 2])
            let kept = batch.split(threads: run.entry.threads).kept
            let stats = ExpRunKit.Statistics(kept.map(\.textsPerSecond))
            let cell = try #require(medianAndRange(row[3]))
            #expect(abs(cell.0 - stats.median) <= 0.05 && abs(cell.1 - stats.low) <= 0.05 && abs(cell.2 - stats.high) <= 0.05)
            #expect(row[6] == (kept.count == 3 ? "3" : "\(kept.count) of 3") || row[6] == "3 (busy)")
        }
        #expect(report.contains("in 2 interleaved rounds") && report.contains("## Noise"))
        // `exprun compare` pairs encoder runs by texts/s at each batch size (against itself: equal medians).
        let compared = try Exprun.run(["compare", "e2e-encoder", "e2e-encoder", "--format", "json", "--db", db])
        #expect(compared.status == 0, "\(compared.stderr)")
        let pairs = try JSONDecoder().decode([CompareReport.Row].self, from: Data(compared.stdout.utf8))
        for size in [1, 8] {
            let texts = pairs.filter { $0.metric == "texts_per_second_batch_\(size)" }
            #expect(texts.count == 4 && texts.allSatisfy { $0.a == $0.b && $0.a > 0 && $0.ratio == 1 })
        }
        // `exprun merge` (shards of a cluster run) carries each round's encoder figures.
        let merged = dir + "/merged/exprun.sqlite"
        let m = try Exprun.run(["merge", db, "--db", merged, "--no-report"])
        #expect(m.status == 0, "\(m.stderr)")
        let copies = try Store(path: merged).runs(experiment: "e2e-encoder")
        #expect(copies.count == 4)
        for run in stored { #expect(copies.first { $0.entry.key == run.entry.key }?.record.encoder == run.record.encoder) }
        let quality = markdownTable(report, after: "## Quality")
        #expect(quality.count == 2 && quality[0][4] == "baseline")
        #expect(quality[1][4] == String(format: "%.5f", q.cosineMean!) && quality[1][6] == String(format: "%.4f", q.recall!))
        for chart in ["memory.svg", "throughput.svg", "quality-size.svg", "quality-speed.svg"] {
            let svg = try #require(XMLDocumentCheck.parse(file: dir + "/results/e2e-encoder/" + chart), "\(chart) is not well-formed XML")
            #expect(svg.elements.first == "svg" && report.contains("](\(chart))"))
        }
    }
}
