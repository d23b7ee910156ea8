// GGUF: llama.cpp's single-file model format (versions 2 and 3; spec: ggml-org/ggml docs/gguf.md).
//
// Layout, all little-endian:
//   "GGUF" magic, u32 version, u64 tensor_count, u64 metadata_kv_count,
//   metadata_kv_count × (string key, u32 value_type, value),
//   tensor_count × (string name, u32 n_dims, u64 dims[n_dims] innermost first, u32 ggml_type,
//                   u64 offset relative to the data section),
//   padding to `general.alignment` (default 32), then the data section.
// A string is a u64 byte length and that many UTF-8 bytes; an array is a u32 element type, a u64
// count and the elements (arrays may nest).
//
// The whole file is memory-mapped once: the header is parsed from the mapping and tensor data is
// never copied. Every count and length read from the file is checked against the bytes that remain
// before anything is allocated, so a corrupted or hostile header gives one error line naming the
// file, the byte offset and the field, never a crash or a huge allocation.
import Foundation

/// Element types of GGUF metadata values, with their on-disk ids.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    public var name: String {
        switch self {
        case .uint8: "u8"
        case .int8: "i8"
        case .uint16: "u16"
        case .int16: "i16"
        case .uint32: "u32"
        case .int32: "i32"
        case .float32: "f32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "u64"
        case .int64: "i64"
        case .float64: "f64"
        }
    }

    /// Fewest bytes one value of this type takes in a file: bounds array counts before allocating.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One metadata value. Arrays carry their element type so an empty array keeps it (a writer needs it).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Any integer type as Int (nil for non-integers and for a u64 beyond Int.max).
    public var int: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// Any numeric type as Double.
    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: int.map(Double.init)
        }
    }

    public var float: Float? { double.map(Float.init) }

    public var bool: Bool? { if case let .bool(v) = self { v } else { nil } }
    public var string: String? { if case let .string(v) = self { v } else { nil } }
    public var array: [GGUFValue]? { if case let .array(_, v) = self { v } else { nil } }
    /// The element type of an array value.
    public var elementType: GGUFValueType? { if case let .array(t, _) = self { t } else { nil } }

    /// An array of strings (nil if any element is not a string).
    public var strings: [String]? {
        guard case let .array(_, items) = self else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case let .string(s) = item else { return nil }
            out.append(s)
        }
        return out
    }

    /// An array of integers of any integer type (nil if any element is not an integer).
    public var ints: [Int]? {
        guard case let .array(_, items) = self else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.int else { return nil }
            out.append(v)
        }
        return out
    }

    /// An array of numbers as Float (nil if any element is not numeric).
    public var floats: [Float]? {
        guard case let .array(_, items) = self else { return nil }
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.float else { return nil }
            out.append(v)
        }
        return out
    }

    /// Short rendering for listings: long arrays are summarized by type, length and first items.
    public func summary(maxItems: Int = 8, maxStringLength: Int = 80) -> String {
        switch self {
        case let .string(s): return CoreError.quote(s, limit: maxStringLength)
        case let .bool(b): return b ? "true" : "false"
        case let .float32(v): return "\(v)"
        case let .float64(v): return "\(v)"
        case let .array(t, items):
            let shown = items.prefix(maxItems).map { $0.summary(maxItems: 3, maxStringLength: 24) }
            let more = items.count > maxItems ? ", …" : ""
            return "[\(t.name) × \(items.count)] [\(shown.joined(separator: ", "))\(more)]"
        case let .uint64(v): return "\(v)"
        default: return int.map(String.init) ?? "?"
        }
    }
}

/// ggml's tensor element types: id, and how many elements one block holds in how many bytes.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22
    case iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Name as llama.cpp prints it ("Q4_K", "F32").
    public var name: String {
        "\(self)".uppercased()
    }

    /// Elements per block (1 for plain types; 32 for the legacy quants; 256 for K- and most I-quants).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        default: 256
        }
    }

    /// Bytes per block (from the block structs in ggml-common.h).
    public var bytesPerBlock: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .f64: 8
        case .i8: 1
        case .i16: 2
        case .i32: 4
        case .i64: 8
        case .q4_0: 18      // f16 d, 16 bytes of nibbles
        case .q4_1: 20      // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: 22      // f16 d, 4 bytes of high bits, 16 bytes of nibbles
        case .q5_1: 24      // f16 d, f16 m, 4 bytes of high bits, 16 bytes of nibbles
        case .q8_0: 34      // f16 d, 32 × i8
        case .q8_1: 36      // f16 d, f16 s, 32 × i8
        case .q2_K: 84      // 16 scales, 64 bytes of 2-bit quants, f16 d, f16 dmin
        case .q3_K: 110     // 32 bytes hmask, 64 bytes quants, 12 bytes scales, f16 d
        case .q4_K: 144     // f16 d, f16 dmin, 12 bytes scales, 128 bytes of nibbles
        case .q5_K: 176     // f16 d, f16 dmin, 12 bytes scales, 32 bytes high bits, 128 bytes nibbles
        case .q6_K: 210     // 128 bytes low bits, 64 bytes high bits, 16 × i8 scales, f16 d
        case .q8_K: 292     // f32 d, 256 × i8, 16 × i16 block sums
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq4_nl: 18
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        case .mxfp4: 17     // e8m0 scale, 16 bytes of fp4 pairs
        }
    }

    /// Bytes of a row of `elements` values, nil unless it is a whole number of blocks.
    public func rowBytes(_ elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }
}

/// One tensor of a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions as stored: innermost (contiguous) first, as ggml's `ne`.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the data from the start of the data section, as stored.
    public let offset: Int
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    /// Bytes of the data.
    public let byteCount: Int

    /// Dimensions outermost first (row-major, as safetensors and `Tensor` have them).
    public var shape: [Int] { dims.reversed() }
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A parsed, memory-mapped GGUF file.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Keys in file order (a writer preserves it).
    public let keys: [String]
    public private(set) var metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Start of the data section in the file (equal to the header's end when there are no tensors).
    public let dataOffset: Int
    /// The whole file, mapped read-only. Tensor data stays valid as long as this object lives.
    public let storage: Storage
    private let tensorIndex: [String: Int]

    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    public static let maxDims = 4
    /// Nested arrays deeper than this are refused (the format allows it, no real file needs it, and it
    /// bounds recursion on a hostile file).
    static let maxArrayDepth = 8

    public convenience init(path: String) throws {
        let storage = try Storage(mapping: path)
        try self.init(storage: storage, path: path)
    }

    /// Parses a GGUF image held in `storage` (a mapping, or owned bytes in tests).
    public init(storage: Storage, path: String) throws {
        self.path = path
        self.storage = storage
        var r = GGUFByteReader(base: UnsafeRawPointer(storage.base), count: storage.byteCount, path: path)

        let magic = try r.bytes(4, "magic")
        guard magic.elementsEqual("GGUF".utf8) else {
            throw CoreError.file(path, "not a GGUF file (magic is \(magic.map { String(format: "%02x", $0) }.joined()), expected 47475546 \"GGUF\")")
        }
        let v = try r.u32("version")
        guard v == 2 || v == 3 else {
            throw CoreError.file(path, "GGUF version \(v) is not supported (versions 2 and 3 are)")
        }
        version = Int(v)
        let tensorCount = try r.count("tensor_count", minimumItemSize: 8 + 4 + 8 + 4 + 8)
        let kvCount = try r.count("metadata_kv_count", minimumItemSize: 8 + 4 + 1)

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let at = r.position
            let key = try r.string("key of metadata entry \(i)")
            guard metadata[key] == nil else {
                throw CoreError.file(path, "byte \(at): metadata key \(quoted: key) appears twice")
            }
            let rawType = try r.u32("value type of \(quoted: key)")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw CoreError.file(path, "byte \(at): metadata \(quoted: key) has unknown value type \(rawType)")
            }
            metadata[key] = try r.value(type, field: key, depth: 0)
            keys.append(key)
        }
        self.keys = keys
        self.metadata = metadata

        var alignment = GGUFFile.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case let .uint32(value) = a, value > 0, value & (value - 1) == 0 else {
                throw CoreError.file(path, "general.alignment must be a u32 power of two, found \(a.type.name) \(a.summary())")
            }
            alignment = Int(value)
        }
        self.alignment = alignment

        struct RawInfo { var name: String; var dims: [Int]; var type: GGMLType; var offset: Int; var bytes: Int; var at: Int }
        var raw: [RawInfo] = []
        raw.reserveCapacity(tensorCount)
        var tensorIndex: [String: Int] = [:]
        for i in 0..<tensorCount {
            let at = r.position
            let name = try r.string("name of tensor \(i)")
            guard tensorIndex[name] == nil else {
                throw CoreError.file(path, "byte \(at): tensor name \(quoted: name) appears twice")
            }
            let nDims = try r.u32("n_dims of tensor \(quoted: name)")
            guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDims) else {
                throw CoreError.file(path, "byte \(at): tensor \(quoted: name) has \(nDims) dimensions (1 to \(GGUFFile.maxDims) allowed)")
            }
            var dims: [Int] = []
            // Elements and rows are checked apart: a row of width 0 makes the element count 0
            // whatever the other dimensions multiply to.
            var elements = 1, rows = 1
            for d in 0..<Int(nDims) {
                let n = try r.u64("dimension \(d) of tensor \(quoted: name)")
                guard let dim = Int(exactly: n) else {
                    throw CoreError.file(path, "byte \(at): tensor \(quoted: name) dimension \(d) is \(n), too large")
                }
                let (e, elementsOverflow) = elements.multipliedReportingOverflow(by: dim)
                let (p, rowsOverflow) = d == 0 ? (1, false) : rows.multipliedReportingOverflow(by: dim)
                guard !elementsOverflow, !rowsOverflow else {
                    throw CoreError.file(path, "byte \(at): tensor \(quoted: name) has too many elements (dims \(dims + [dim]))")
                }
                elements = e; rows = p
                dims.append(dim)
            }
            let rawType = try r.u32("type of tensor \(quoted: name)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw CoreError.file(path, "byte \(at): tensor \(quoted: name) has unknown ggml type \(rawType)")
            }
            guard let rowBytes = type.rowBytes(dims[0]) else {
                throw CoreError.file(path, "byte \(at): tensor \(quoted: name) of type \(type.name) has rows of \(dims[0]) elements, not a multiple of its block size \(type.blockSize)")
            }
            let (bytes, overflow) = rowBytes.multipliedReportingOverflow(by: rows)
            guard !overflow else { throw CoreError.file(path, "byte \(at): tensor \(quoted: name) is too large") }
            let off = try r.u64("offset of tensor \(quoted: name)")
            guard let offset = Int(exactly: off), offset % alignment == 0 else {
                throw CoreError.file(path, "byte \(at): tensor \(quoted: name) data offset \(off) is not a multiple of the alignment \(alignment)")
            }
            tensorIndex[name] = i
            raw.append(RawInfo(name: name, dims: dims, type: type, offset: offset, bytes: bytes, at: at))
        }

        let headerEnd = r.position
        let (padded, overflow) = headerEnd.addingReportingOverflow(alignment - 1)
        let dataOffset = overflow ? Int.max : padded / alignment * alignment
        self.dataOffset = tensorCount == 0 ? min(dataOffset, storage.byteCount) : dataOffset
        let dataBytes = storage.byteCount - dataOffset
        if tensorCount > 0, dataBytes < 0 {
            throw CoreError.file(path, "truncated: the tensor data section would start at byte \(dataOffset), past the end of the \(storage.byteCount)-byte file")
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        for t in raw {
            guard t.offset <= dataBytes, t.bytes <= dataBytes - t.offset else {
                throw CoreError.file(path, "truncated or corrupt: tensor \(quoted: t.name) (\(t.type.name), dims \(t.dims)) needs bytes \(t.offset)..<\(t.offset &+ t.bytes) of a \(dataBytes)-byte data section")
            }
            tensors.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: t.offset,
                                          fileOffset: dataOffset + t.offset, byteCount: t.bytes))
        }
        // Tensors must not share bytes: a writer lays them out one after another, and overlap means
        // a corrupt table (or one crafted so that writing one tensor changes another).
        let byOffset = tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset && a.byteCount > 0 && b.byteCount > 0 {
            throw CoreError.file(path, "corrupt: tensors \(quoted: a.name) and \(quoted: b.name) overlap in the data section")
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Start of a tensor's bytes in the mapping.
    public func data(_ info: GGUFTensorInfo) -> UnsafeRawPointer {
        UnsafeRawPointer(storage.base + info.fileOffset)
    }

    /// A tensor of a plain element type (F32, F16, BF16, F64, I8..I64) as a `Tensor` viewing the
    /// mapping, shape outermost first. Block-quantized types have no `DType`: read them through
    /// `data(_:)` with their `GGMLType`.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensorInfo(name) else { throw CoreError.file(path, "no tensor named \(quoted: name)") }
        let dtype: DType
        switch info.type {
        case .f32: dtype = .f32
        case .f16: dtype = .f16
        case .bf16: dtype = .bf16
        case .f64: dtype = .f64
        case .i8: dtype = .i8
        case .i16: dtype = .i16
        case .i32: dtype = .i32
        case .i64: dtype = .i64
        default: throw CoreError.unsupported("\(path): tensor \(quoted: name) is \(info.type.name), a block-quantized type with no plain element type")
        }
        return Tensor(dtype: dtype, shape: info.shape, storage: storage, byteOffset: info.fileOffset)
    }

    /// Forgets the metadata arrays (a tokenizer's vocabulary: hundreds of thousands of strings,
    /// parsed, take several times their bytes in the file). Loaders call it once the tokenizer is
    /// built, so the parsed vocabulary is not held beside the weights while they load; lookups of
    /// those keys then find nothing.
    public func dropArrays() {
        metadata = metadata.filter { if case .array = $0.value { false } else { true } }
    }

    // Typed metadata lookups for loaders; a present key of the wrong type is an error naming it.

    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int else { throw CoreError.file(path, "metadata \(quoted: key) should be an integer, found \(v.type.name) \(v.summary())") }
        return i
    }

    public func float(_ key: String) throws -> Float? {
        guard let v = metadata[key] else { return nil }
        guard let f = v.float else { throw CoreError.file(path, "metadata \(quoted: key) should be a number, found \(v.type.name) \(v.summary())") }
        return f
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw CoreError.file(path, "metadata \(quoted: key) should be a bool, found \(v.type.name) \(v.summary())") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.string else { throw CoreError.file(path, "metadata \(quoted: key) should be a string, found \(v.type.name) \(v.summary())") }
        return s
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.strings else { throw CoreError.file(path, "metadata \(quoted: key) should be an array of strings, found \(v.summary(maxItems: 2))") }
        return s
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.ints else { throw CoreError.file(path, "metadata \(quoted: key) should be an array of integers, found \(v.summary(maxItems: 2))") }
        return s
    }

    public func floats(_ key: String) throws -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.floats else { throw CoreError.file(path, "metadata \(quoted: key) should be an array of numbers, found \(v.summary(maxItems: 2))") }
        return s
    }
}

/// Bounds-checked little-endian cursor over the mapped header. Every read names its field so an
/// error says what was being read where.
struct GGUFByteReader {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var position = 0

    var remaining: Int { count - position }

    private func truncated(_ field: String, _ need: Int) -> CoreError {
        CoreError.file(path, "truncated at byte \(position): reading \(field) needs \(need) bytes, \(remaining) left")
    }

    mutating func bytes(_ n: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw truncated(field, n) }
        defer { position += n }
        return UnsafeRawBufferPointer(start: base + position, count: n)
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw truncated(field, size) }
        defer { position += size }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func u32(_ field: String) throws -> UInt32 { try load(UInt32.self, field) }
    mutating func u64(_ field: String) throws -> UInt64 { try load(UInt64.self, field) }

    /// A u64 count of items each taking at least `minimumItemSize` bytes: refused when the rest of
    /// the file could not hold that many, so no allocation is sized by an unchecked number.
    mutating func count(_ field: String, minimumItemSize: Int) throws -> Int {
        let at = position
        let n = try u64(field)
        guard n <= UInt64(remaining / max(minimumItemSize, 1)) else {
            throw CoreError.file(path, "byte \(at): \(field) is \(n), more than the \(remaining) remaining bytes can hold (corrupt or truncated file)")
        }
        return Int(n)
    }

    mutating func string(_ field: String) throws -> String {
        let at = position
        let n = try u64("length of \(field)")
        guard n <= UInt64(remaining) else {
            throw CoreError.file(path, "byte \(at): \(field) claims \(n) bytes, only \(remaining) remain (corrupt or truncated file)")
        }
        let b = try bytes(Int(n), field)
        // Invalid UTF-8 is repaired with U+FFFD rather than refused: llama.cpp does not validate either.
        return String(decoding: b, as: UTF8.self)
    }

    mutating func value(_ type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, field))
        case .int8: return .int8(try load(Int8.self, field))
        case .uint16: return .uint16(try load(UInt16.self, field))
        case .int16: return .int16(try load(Int16.self, field))
        case .uint32: return .uint32(try load(UInt32.self, field))
        case .int32: return .int32(try load(Int32.self, field))
        case .uint64: return .uint64(try load(UInt64.self, field))
        case .int64: return .int64(try load(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, field)))
        case .bool: return .bool(try load(UInt8.self, field) != 0)
        case .string: return .string(try string(field))
        case .array:
            let at = position
            guard depth < GGUFFile.maxArrayDepth else {
                throw CoreError.file(path, "byte \(at): \(quoted: field) nests arrays more than \(GGUFFile.maxArrayDepth) deep")
            }
            let rawType = try u32("element type of \(field)")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw CoreError.file(path, "byte \(at): array \(quoted: field) has unknown element type \(rawType)")
            }
            let n = try count("length of array \(quoted: field)", minimumItemSize: elementType.minimumEncodedSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                items.append(try value(elementType, field: field, depth: depth + 1))
            }
            return .array(elementType, items)
        }
    }
}
