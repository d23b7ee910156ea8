// safetensors (Hugging Face): the checkpoint format of transformers.
//
//   [u64 little-endian N] [N bytes of JSON header] [data section]
//   header: {"name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"format": "pt"}}
//   offsets are relative to the start of the data section; end - begin = dtype size × Π shape.
//
// Files are memory-mapped: a tensor is a view into the mapping, read only when touched. Everything
// the header claims is checked against the file before any tensor is handed out (a truncated
// download or a hostile header must give one error line, not a crash or a huge allocation).
// A sharded checkpoint (`model.safetensors.index.json`: {"weight_map": {"name": "file"}}) is a set
// of such files behind one name → tensor lookup.
import Foundation

/// One memory-mapped, validated `.safetensors` file.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data section.
        public let begin: Int, end: Int
    }

    public let path: String
    public let storage: Storage
    /// File offset of the data section (8 + header length).
    public let dataStart: Int
    /// Tensors in file order.
    public let entries: [Entry]
    public let metadata: [String: String]
    private let index: [String: Int]

    /// A header longer than this is not a checkpoint header (transformers writes a few hundred KB
    /// for the largest models); refusing it keeps a hostile length from becoming an allocation.
    static let maxHeaderBytes = 100 << 20

    public convenience init(path: String) throws {
        try self.init(storage: Storage(mapping: path), path: path)
    }

    /// Parses a safetensors image held in `storage` (a mapping, or owned bytes in tests and fuzzing).
    public init(storage: Storage, path: String) throws {
        self.path = path
        self.storage = storage
        let size = storage.byteCount
        guard size >= 8 else { throw CoreError.file(path, "only \(size) bytes: too short for a safetensors header (the file is truncated?)") }
        let n = storage.base.loadUnaligned(as: UInt64.self).littleEndian
        guard n >= 2, n <= UInt64(Self.maxHeaderBytes) else {
            throw CoreError.file(path, "header length \(n) is not plausible: not a safetensors file?")
        }
        guard 8 + Int(n) <= size else {
            throw CoreError.file(path, "header of \(n) bytes runs past the end of the \(size)-byte file (the file is truncated?)")
        }
        dataStart = 8 + Int(n)
        let dataSize = size - dataStart
        let headerData = Data(bytes: storage.base + 8, count: Int(n))
        guard case let .object(header) = try ParsedJSON.parse(headerData, source: path + " (header)") else {
            throw CoreError.file(path, "header is not a JSON object")
        }

        var meta: [String: String] = [:]
        var list: [Entry] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard case let .object(m) = value else { throw CoreError.file(path, "__metadata__ must be an object of strings") }
                for (k, v) in m {
                    guard case let .string(s) = v else { throw CoreError.file(path, "__metadata__[\(quoted: k)] must be a string, found \(quoted: v.description)") }
                    meta[k] = s
                }
                continue
            }
            list.append(try Self.entry(name, value, dataSize: dataSize, path: path))
        }
        list.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (a, b) in zip(list, list.dropFirst()) where b.begin < a.end {
            throw CoreError.file(path, "tensors \(quoted: a.name) [\(a.begin), \(a.end)) and \(quoted: b.name) [\(b.begin), \(b.end)) overlap")
        }
        entries = list
        metadata = meta
        index = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
    }

    private static func entry(_ name: String, _ value: ParsedJSON, dataSize: Int, path: String) throws -> Entry {
        let what = "tensor \(quoted: name)"
        guard case let .object(o) = value else { throw CoreError.file(path, "\(what): entry must be an object, found \(value.kind)") }
        guard case let .string(dt)? = o["dtype"] else { throw CoreError.file(path, "\(what): missing or non-string \"dtype\"") }
        guard let dtype = DType(rawValue: dt) else {
            throw CoreError.file(path, "\(what) has unknown dtype \(quoted: dt) (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case let .array(sh)? = o["shape"] else { throw CoreError.file(path, "\(what): missing or non-array \"shape\"") }
        // The product of the non-zero dimensions is bounded too, so that no partial product of the
        // shape, in any order, can overflow where a model splits it into rows and columns.
        var shape: [Int] = []
        var count = 1, nonZero = 1
        for d in sh {
            guard case let .int(v) = d, v >= 0 else { throw CoreError.file(path, "\(what): shape \(quoted: ParsedJSON.array(sh).description) must hold non-negative integers") }
            let (c, overflow) = count.multipliedReportingOverflow(by: v)
            let (n, nonZeroOverflow) = nonZero.multipliedReportingOverflow(by: max(v, 1))
            guard !nonZeroOverflow else { throw CoreError.file(path, "\(what): shape \(shape + [v]) has too many elements") }
            guard !overflow, c <= dataSize else { throw CoreError.file(path, "\(what): shape \(shape + [v]) is larger than the whole file") }
            shape.append(v); count = c; nonZero = n
        }
        guard case let .array(off)? = o["data_offsets"], off.count == 2,
              case let .int(begin) = off[0], case let .int(end) = off[1] else {
            throw CoreError.file(path, "\(what): \"data_offsets\" must be [begin, end] integers")
        }
        guard begin >= 0, begin <= end else { throw CoreError.file(path, "\(what): data_offsets [\(begin), \(end)] are not an ordered range") }
        guard end <= dataSize else {
            throw CoreError.file(path, "\(what): data [\(begin), \(end)) lies beyond the end of the \(dataSize)-byte data section (the file is truncated?)")
        }
        let bytes = count * dtype.byteSize
        guard end - begin == bytes else {
            throw CoreError.file(path, "\(what): \(end - begin) bytes of data, but \(dtype.rawValue) × \(shape) needs \(bytes)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    public var names: [String] { entries.map(\.name) }
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The tensor `name`, a view into the mapping.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = index[name] else { throw CoreError.file(path, "no tensor named \(quoted: name)") }
        let e = entries[i]
        return Tensor(dtype: e.dtype, shape: e.shape, storage: storage, byteOffset: dataStart + e.begin)
    }
}

/// A checkpoint: one safetensors file or a sharded set, looked up by tensor name.
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    public let files: [SafeTensorsFile]
    /// The index file of a sharded checkpoint, nil for a single file.
    public let indexPath: String?
    private let owner: [String: Int]

    /// A file path (`.safetensors` or `.safetensors.index.json`) or a model directory
    /// (`model.safetensors.index.json`, else `model.safetensors`, else the one `*.safetensors`).
    public init(_ path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CoreError.file(path, "no such file or directory")
        }
        var target = path
        if isDir.boolValue {
            let dir = URL(fileURLWithPath: path)
            let index = dir.appendingPathComponent("model.safetensors.index.json").path
            let single = dir.appendingPathComponent("model.safetensors").path
            if FileManager.default.fileExists(atPath: index) { target = index }
            else if FileManager.default.fileExists(atPath: single) { target = single }
            else {
                let found = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                    .filter { $0.hasSuffix(".safetensors") }.sorted()
                guard found.count == 1 else {
                    throw CoreError.file(path, found.isEmpty
                        ? "no model.safetensors or model.safetensors.index.json in this directory"
                        : "several .safetensors files (\(found.joined(separator: ", "))) but no model.safetensors.index.json")
                }
                target = dir.appendingPathComponent(found[0]).path
            }
        }
        if target.hasSuffix(".json") {
            indexPath = target
            (files, owner) = try Self.openSharded(index: target)
        } else {
            indexPath = nil
            let f = try SafeTensorsFile(path: target)
            files = [f]
            owner = Dictionary(uniqueKeysWithValues: f.names.map { ($0, 0) })
        }
    }

    private static func openSharded(index: String) throws -> ([SafeTensorsFile], [String: Int]) {
        guard let data = FileManager.default.contents(atPath: index) else { throw CoreError.file(index, "cannot read") }
        guard case let .object(root) = try ParsedJSON.parse(data, source: index),
              case let .object(map)? = root["weight_map"] else {
            throw CoreError.file(index, "expected an object with a \"weight_map\" object (tensor name → shard file)")
        }
        let dir = URL(fileURLWithPath: index).deletingLastPathComponent()
        var shards: [String: Int] = [:]
        var files: [SafeTensorsFile] = []
        var owner: [String: Int] = [:]
        for name in map.keys.sorted() {
            guard case let .string(file)? = map[name] else { throw CoreError.file(index, "weight_map[\(quoted: name)] must be a file name string") }
            guard !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
                throw CoreError.file(index, "weight_map[\(quoted: name)] = \(quoted: file) is not a plain file name in this directory")
            }
            let shard: Int
            if let s = shards[file] { shard = s } else {
                let p = dir.appendingPathComponent(file).path
                guard FileManager.default.fileExists(atPath: p) else { throw CoreError.file(index, "shard \(quoted: file) (holding \(quoted: name)) is missing") }
                files.append(try SafeTensorsFile(path: p))
                shard = files.count - 1
                shards[file] = shard
            }
            guard files[shard].contains(name) else {
                throw CoreError.file(index, "weight_map says \(quoted: name) is in \(quoted: file), but that shard has no such tensor")
            }
            owner[name] = shard
        }
        return (files, owner)
    }

    /// Every tensor name, sorted.
    public var names: [String] { owner.keys.sorted() }
    public func contains(_ name: String) -> Bool { owner[name] != nil }
    /// Paths of the files holding the bytes (the index first, for a sharded checkpoint).
    public var paths: [String] { (indexPath.map { [$0] } ?? []) + files.map(\.path) }
    /// A name for error messages: the index or the single file.
    public var displayName: String { indexPath ?? files[0].path }

    public func tensor(_ name: String) throws -> Tensor {
        guard let i = owner[name] else { throw CoreError.file(displayName, "no tensor named \(quoted: name)") }
        return try files[i].tensor(name)
    }

    public func entry(_ name: String) -> SafeTensorsFile.Entry? {
        guard let i = owner[name] else { return nil }
        return files[i].entries.first { $0.name == name }
    }
}

/// Writes safetensors files (logits from `exprun logits`, re-laid-out copies of checkpoints in tests).
public enum SafeTensorsWriter {
    /// Writes `tensors` in the given order, header padded with spaces to a multiple of 8 so every
    /// tensor starts 8-byte aligned when all sizes are (as transformers does).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = ["format": "pt"],
                             to path: String) throws {
        var header: [String] = []
        if !metadata.isEmpty {
            header.append("\"__metadata__\":{" + metadata.keys.sorted().map { ParsedJSON.quote($0) + ":" + ParsedJSON.quote(metadata[$0]!) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in tensors {
            let n = t.byteCount
            header.append(ParsedJSON.quote(name) + ":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + n)]}")
            offset += n
        }
        var json = Array(("{" + header.joined(separator: ",") + "}").utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        // Streamed from the tensors' own bytes: a copy of the file in memory would sit beside the
        // model (GPT-2's embedding alone is 147 MiB).
        var head = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { head.append(contentsOf: $0) }
        head.append(contentsOf: json)
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw CoreError.file(path, "cannot write: the file cannot be created (does its directory exist and is it writable?)")
        }
        defer { try? file.close() }
        do {
            try file.write(contentsOf: head)
            for (_, t) in tensors where t.byteCount > 0 {
                try file.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: t.raw), count: t.byteCount, deallocator: .none))
            }
        } catch {
            throw CoreError.file(path, "cannot write: \(error.localizedDescription)")
        }
    }
}
