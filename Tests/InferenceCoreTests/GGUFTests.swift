// GGUF reader: the two vocab-only GGUFs from llama.cpp read fully (their key counts and contents are
// documented in shared/data/README.md and cross-checked against the GPT-2 tokenizer files), a small
// file with tensors built here read back exactly, and corrupted / truncated files rejected with an
// error, never a crash.
import Foundation
import Testing
@testable import InferenceCore

/// Where the shared test data lives: ../shared/data beside the package root.
let tokTestData: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/data").standardizedFileURL

/// Minimal GGUF encoder for tests (the product's writer lives elsewhere; this one only has to
/// produce known bytes to read back).
struct TestGGUFBuilder {
    var kvs: [(String, GGUFValue)] = []
    var tensors: [(name: String, dims: [Int], type: GGMLType, data: [UInt8])] = []
    var version: UInt32 = 3
    var alignment = 32

    private static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
    private static func putString(_ s: String, _ out: inout [UInt8]) {
        put(UInt64(s.utf8.count), &out); out.append(contentsOf: s.utf8)
    }
    private static func putValue(_ v: GGUFValue, _ out: inout [UInt8]) {
        switch v {
        case let .uint8(x): put(x, &out)
        case let .int8(x): put(x, &out)
        case let .uint16(x): put(x, &out)
        case let .int16(x): put(x, &out)
        case let .uint32(x): put(x, &out)
        case let .int32(x): put(x, &out)
        case let .uint64(x): put(x, &out)
        case let .int64(x): put(x, &out)
        case let .float32(x): put(x.bitPattern, &out)
        case let .float64(x): put(x.bitPattern, &out)
        case let .bool(x): out.append(x ? 1 : 0)
        case let .string(x): putString(x, &out)
        case let .array(t, items):
            put(t.rawValue, &out); put(UInt64(items.count), &out)
            for item in items { putValue(item, &out) }
        }
    }

    /// The file's bytes; the last tensor's data ends the file (no trailing padding), so every
    /// strict prefix is a truncated file.
    func bytes() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        Self.put(version, &out)
        Self.put(UInt64(tensors.count), &out)
        Self.put(UInt64(kvs.count), &out)
        for (k, v) in kvs {
            Self.putString(k, &out); Self.put(v.type.rawValue, &out); Self.putValue(v, &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += t.data.count
            offset = (offset + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            Self.putString(t.name, &out)
            Self.put(UInt32(t.dims.count), &out)
            for d in t.dims { Self.put(UInt64(d), &out) }
            Self.put(t.type.rawValue, &out)
            Self.put(UInt64(off), &out)
        }
        guard !tensors.isEmpty else { return out }
        while out.count % alignment != 0 { out.append(0) }
        let start = out.count
        for (t, off) in zip(tensors, offsets) {
            while out.count < start + off { out.append(0) }
            out.append(contentsOf: t.data)
        }
        return out
    }
}

func parseGGUF(_ bytes: [UInt8], path: String = "test.gguf") throws -> GGUFFile {
    let storage = Storage(byteCount: bytes.count)
    bytes.withUnsafeBytes { storage.base.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return try GGUFFile(storage: storage, path: path)
}

/// Deterministic generator so fuzz failures reproduce.
struct FuzzRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct GGUFTests {
    static let gpt2Vocab = tokTestData.appendingPathComponent("llama.cpp-vocab/ggml-vocab-gpt-2.gguf").path
    static let spmVocab = tokTestData.appendingPathComponent("llama.cpp-vocab/ggml-vocab-llama-spm.gguf").path

    static func smallFile() -> TestGGUFBuilder {
        var b = TestGGUFBuilder()
        b.alignment = 64
        b.kvs = [
            ("general.architecture", .string("test")),
            ("general.alignment", .uint32(64)),
            ("t.u8", .uint8(200)), ("t.i8", .int8(-5)), ("t.u16", .uint16(60000)), ("t.i16", .int16(-300)),
            ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-70000)), ("t.f32", .float32(1.5)),
            ("t.bool", .bool(true)), ("t.str", .string("héllo ▁")), ("t.u64", .uint64(1 << 40)),
            ("t.i64", .int64(-(1 << 40))), ("t.f64", .float64(-2.25)),
            ("t.nested", .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.string, [.string("a")]), .array(.bool, [])])),
            ("t.empty", .array(.float32, [])),
        ]
        let f32Data: [UInt8] = (0..<12).flatMap { i -> [UInt8] in
            withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { Array($0) }
        }
        b.tensors = [
            ("a.weight", [4, 3], .f32, f32Data),
            ("b.weight", [64, 2], .q8_0, (0..<(2 * 2 * 34)).map { UInt8($0 & 0xff) }),
            ("c.weight", [256], .q4_K, (0..<144).map { UInt8(($0 * 7) & 0xff) }),
        ]
        return b
    }

    @Test func readsSmallFileExactly() throws {
        let b = Self.smallFile()
        let f = try parseGGUF(b.bytes())
        #expect(f.version == 3)
        #expect(f.keys == b.kvs.map(\.0))
        for (k, v) in b.kvs { #expect(f.metadata[k] == v, "\(k)") }
        #expect(f.alignment == 64)
        #expect(f.dataOffset % 64 == 0)
        #expect(f.tensors.map(\.name) == ["a.weight", "b.weight", "c.weight"])
        let a = try #require(f.tensorInfo("a.weight"))
        #expect(a.dims == [4, 3] && a.shape == [3, 4] && a.byteCount == 48 && a.offset == 0)
        #expect(try f.tensor("a.weight").toFloatArray() == (0..<12).map(Float.init))
        let q = try #require(f.tensorInfo("b.weight"))
        #expect(q.type == .q8_0 && q.byteCount == 136 && q.offset == 64 && q.shape == [2, 64])
        let bytes = UnsafeRawBufferPointer(start: f.data(q), count: q.byteCount)
        #expect(Array(bytes) == b.tensors[1].data)
        let k = try #require(f.tensorInfo("c.weight"))
        #expect(k.type == .q4_K && k.byteCount == 144 && k.offset == 256)
        #expect(try f.int("t.u32") == 4_000_000_000)
        #expect(try f.string("t.str") == "héllo ▁")
        #expect(throws: CoreError.self) { try f.tensor("b.weight") }
        #expect(throws: CoreError.self) { try f.int("t.str") }
        // Version 2 has the same layout.
        var v2 = b; v2.version = 2
        #expect(try parseGGUF(v2.bytes()).version == 2)
    }

    @Test func readsGPT2VocabFully() throws {
        let f = try GGUFFile(path: Self.gpt2Vocab)
        #expect(f.version == 3)
        #expect(f.keys.count == 16)
        #expect(f.tensors.isEmpty)
        #expect(f.dataOffset == f.storage.byteCount)   // read exactly to the end of the file
        #expect(try f.string("tokenizer.ggml.model") == "gpt2")
        #expect(try f.string("general.architecture") == "gpt2")
        let tokens = try #require(try f.strings("tokenizer.ggml.tokens"))
        #expect(tokens.count == 50257)
        #expect(try f.strings("tokenizer.ggml.merges")?.count == 50000)
        let types = try #require(try f.ints("tokenizer.ggml.token_type"))
        #expect(types.count == 50257 && types[50256] == 3 && types.dropLast().allSatisfy { $0 == 1 })
        #expect(try f.int("tokenizer.ggml.bos_token_id") == 50256)
        #expect(try f.int("tokenizer.ggml.eos_token_id") == 50256)
        #expect(try f.int("gpt2.block_count") == 12)
        // Same vocabulary as the tokenizer files (data README cross-check).
        let vocabData = try Data(contentsOf: tokTestData.appendingPathComponent("gpt2-tokenizer/vocab.json"))
        let vocab = try JSONDecoder().decode([String: Int].self, from: vocabData)
        #expect(tokens.enumerated().allSatisfy { vocab[$0.element] == $0.offset })
    }

    /// What loaders do once the tokenizer is built: the vocabulary arrays go, the scalars stay.
    @Test func droppingArraysKeepsTheScalars() throws {
        let f = try GGUFFile(path: Self.gpt2Vocab)
        f.dropArrays()
        #expect(try f.strings("tokenizer.ggml.tokens") == nil)
        #expect(try f.ints("tokenizer.ggml.token_type") == nil)
        #expect(try f.string("general.architecture") == "gpt2")
        #expect(try f.int("gpt2.block_count") == 12)
    }

    @Test func readsLlamaSPMVocabFully() throws {
        let f = try GGUFFile(path: Self.spmVocab)
        #expect(f.keys.count == 22)
        #expect(f.tensors.isEmpty)
        #expect(f.dataOffset == f.storage.byteCount)
        #expect(try f.string("tokenizer.ggml.model") == "llama")
        #expect(try f.strings("tokenizer.ggml.tokens")?.count == 32000)
        #expect(try f.floats("tokenizer.ggml.scores")?.count == 32000)
        let types = try #require(try f.ints("tokenizer.ggml.token_type"))
        #expect(types.filter { $0 == 1 }.count == 31741)
        #expect(types.filter { $0 == 6 }.count == 256)
        #expect(types.filter { $0 == 3 }.count == 2)
        #expect(types.filter { $0 == 2 }.count == 1)
        #expect(try f.bool("tokenizer.ggml.add_bos_token") == true)
        #expect(try f.bool("tokenizer.ggml.add_eos_token") == false)
    }

    @Test func everyPrefixOfSmallFileIsRejected() throws {
        let bytes = Self.smallFile().bytes()
        for n in 0..<bytes.count {
            #expect(throws: CoreError.self, "prefix of \(n) bytes") { try parseGGUF(Array(bytes[..<n])) }
        }
    }

    @Test func sampledPrefixesOfVocabFilesAreRejected() throws {
        var rng = FuzzRNG(state: 7)
        for path in [Self.gpt2Vocab, Self.spmVocab] {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let lengths = (0..<24).map { _ in Int.random(in: 0..<bytes.count, using: &rng) } + [0, 3, 4, 8, 23, 24, bytes.count - 1]
            for n in lengths {
                #expect(throws: CoreError.self, "\(path) prefix \(n)") { try parseGGUF(Array(bytes[..<n])) }
            }
        }
    }

    /// Random byte flips: the reader may accept the file (a flip inside a string is still a valid
    /// file) but must never crash, and whatever it accepts must be internally consistent.
    @Test func fuzzedFilesNeverCrash() throws {
        var rng = FuzzRNG(state: 42)
        let small = Self.smallFile().bytes()
        var rejected = 0
        for _ in 0..<3000 {
            var b = small
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            do {
                let f = try parseGGUF(b)
                for t in f.tensors { #expect(t.fileOffset + t.byteCount <= f.storage.byteCount) }
            } catch is CoreError { rejected += 1 }
        }
        #expect(rejected > 1000)   // most flips land in lengths, counts, types or offsets
        // The real files: flips concentrated in the header region, where counts and types live.
        for path in [Self.gpt2Vocab, Self.spmVocab] {
            let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            for _ in 0..<12 {
                var b = original
                let region = Bool.random(using: &rng) ? 0..<min(4096, b.count) : 0..<b.count
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    b[Int.random(in: region, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
                _ = try? parseGGUF(b)
            }
        }
    }

    @Test func hostileHeadersGiveErrorsNotAllocations() throws {
        func header(tensors: UInt64, kvs: UInt64) -> [UInt8] {
            var out: [UInt8] = Array("GGUF".utf8)
            withUnsafeBytes(of: UInt32(3).littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: tensors.littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: kvs.littleEndian) { out.append(contentsOf: $0) }
            return out
        }
        func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let cases: [(String, [UInt8])] = [
            ("huge tensor count", header(tensors: .max, kvs: 0)),
            ("huge kv count", header(tensors: 0, kvs: 1 << 60)),
            ("huge key length", header(tensors: 0, kvs: 1) + u64(.max)),
            ("huge array", header(tensors: 0, kvs: 1) + u64(1) + Array("k".utf8) + u32(9) + u32(8) + u64(1 << 62)),
            ("unknown value type", header(tensors: 0, kvs: 1) + u64(1) + Array("k".utf8) + u32(77) + u64(0)),
            ("deep nesting", header(tensors: 0, kvs: 1) + u64(1) + Array("k".utf8) + u32(9)
                + (0..<20).flatMap { _ in u32(9) + u64(1) } + u32(0) + u64(0)),
            ("bad version", Array("GGUF".utf8) + u32(1) + u64(0) + u64(0)),
            ("bad magic", Array("GGML".utf8) + u32(3) + u64(0) + u64(0)),
        ]
        for (what, bytes) in cases {
            #expect(throws: CoreError.self, "\(what)") { try parseGGUF(bytes) }
        }
        // Tensor tables that lie: offsets outside the data, unaligned, overlapping, bad types, huge dims.
        func withTensor(_ edit: (inout TestGGUFBuilder) -> Void) -> [UInt8] {
            var b = Self.smallFile(); edit(&b); return b.bytes()
        }
        let tableCases: [(String, [UInt8])] = [
            ("5 dims", withTensor { $0.tensors[0].dims = [1, 1, 1, 1, 12] }),
            ("row not a multiple of the block", withTensor { $0.tensors[1].dims = [48, 2] }),
            ("data beyond the file", withTensor { $0.tensors[2].dims = [256, 2] }),
            ("huge dims", withTensor { $0.tensors[0].dims = [1 << 40, 1 << 40] }),
            // No elements, so the element count cannot overflow, but the rows do (found by scripts/fuzz).
            ("zero-width rows, too many of them", withTensor { $0.tensors[0].dims = [0, 1 << 40, 1 << 40] }),
            ("duplicate name", withTensor { $0.tensors[1].name = "a.weight" }),
            ("alignment not a power of two", withTensor { $0.kvs[1].1 = .uint32(48) }),
            ("alignment of the wrong type", withTensor { $0.kvs[1].1 = .uint64(64) }),
        ]
        for (what, bytes) in tableCases {
            #expect(throws: CoreError.self, "\(what)") { try parseGGUF(bytes) }
        }
        // Overlap and misalignment need the offsets themselves edited: patch the stored offset of b.
        var b = Self.smallFile().bytes()
        let f = try parseGGUF(b)
        let bInfo = try #require(f.tensorInfo("b.weight"))
        // The offset of b is the last 8 bytes of its info, which ends where c's name length begins.
        let cNameAt = try #require(firstIndex(b, u64(8) + Array("c.weight".utf8)))
        for (what, newOffset) in [("overlap", UInt64(0)), ("unaligned", UInt64(bInfo.offset + 4))] {
            var patched = b
            patched.replaceSubrange((cNameAt - 8)..<cNameAt, with: u64(newOffset))
            #expect(throws: CoreError.self, "\(what)") { try parseGGUF(patched) }
        }
        b[0] = 0
        #expect(throws: CoreError.self) { try parseGGUF(b) }
    }

    @Test func untrustedTextInErrorsIsEscapedCutAndPlaced() throws {
        // The issue's example: a mutated key of NULs, a backspace and 200 more bytes, then an
        // impossible value type. The error must name the byte where the entry starts (after the
        // 24-byte header), show the key escaped and cut at 60 characters, and stay one short line.
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let key: [UInt8] = [0, 0] + Array("ĠBeta".utf8) + [8, 0] + Array(repeating: UInt8(ascii: "x"), count: 200)
        let bytes = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(0)) + le(UInt64(1)) + le(UInt64(key.count)) + key + le(UInt32(2697199616))
        do {
            _ = try parseGGUF(bytes, path: "m.gguf")
            Issue.record("parsed")
        } catch {
            let expected = "m.gguf: byte 24: metadata '\\x00\\x00ĠBeta\\x08\\x00" + String(repeating: "x", count: 51)
                + "…' (210 bytes) has unknown value type 2697199616"
            #expect("\(error)" == expected)
        }
    }

    @Test func quotingEscapesWhatATerminalWouldInterpret() {
        #expect(CoreError.quote("plain Ġtoken ▁x") == "'plain Ġtoken ▁x'")
        #expect(CoreError.quote("a'b\\c\t\n\u{7F}") == "'a\\'b\\\\c\\t\\n\\x7f'")
        // Bidirectional override, zero-width space, the replacement character of invalid UTF-8,
        // a no-break space: all invisible or misleading on a terminal.
        #expect(CoreError.quote("\u{202E}\u{200B}\u{FFFD}\u{A0}") == "'\\u{202E}\\u{200B}\\u{FFFD}\\u{A0}'")
        #expect(CoreError.quote(String(repeating: "é", count: 61), limit: 60) == "'" + String(repeating: "é", count: 60) + "…' (122 bytes)")
        #expect(CoreError.quote(String(repeating: "é", count: 60), limit: 60) == "'" + String(repeating: "é", count: 60) + "'")
    }

    @Test func missingFileIsAnError() {
        #expect(throws: CoreError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    @Test func typeTableMatchesGGMLSizes() {
        // bytes per block follow from the block layouts: spot-check the formula for K-quants.
        #expect(GGMLType.q4_K.bytesPerBlock == 2 + 2 + 12 + 256 / 2)
        #expect(GGMLType.q6_K.bytesPerBlock == 256 / 2 + 256 / 4 + 256 / 16 + 2)
        #expect(GGMLType.q5_0.rowBytes(640) == 20 * 22)
        #expect(GGMLType.q4_K.rowBytes(640) == nil)
        #expect(GGMLType.f16.rowBytes(3) == 6)
    }
}

func firstIndex(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
    return nil
}
