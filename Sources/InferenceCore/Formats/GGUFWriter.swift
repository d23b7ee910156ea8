// Writes GGUF version 3 files (the layout is described at the top of GGUF.swift, which reads them):
// header, metadata in the order given, tensor infos with dimensions innermost first, then the
// tensor data, each tensor starting at a multiple of `general.alignment` (32) from the start of
// the data section, which is itself aligned. Tensor bytes are produced one tensor at a time by a
// closure and streamed to the file, so writing a model needs memory for one tensor, not all.
import Foundation

public struct GGUFWriter {
    public struct TensorEntry {
        public let name: String
        /// Outermost first, as everywhere in exprun (`[out, in]`); written reversed.
        public let shape: [Int]
        public let type: GGMLType
        public let byteCount: Int
        /// Fills exactly `byteCount` bytes.
        public let fill: (UnsafeMutableRawPointer) throws -> Void

        public init(name: String, shape: [Int], type: GGMLType, byteCount: Int, fill: @escaping (UnsafeMutableRawPointer) throws -> Void) {
            self.name = name; self.shape = shape; self.type = type; self.byteCount = byteCount; self.fill = fill
        }
    }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [TensorEntry] = []
    public let alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    public mutating func add(_ t: TensorEntry) throws {
        guard !tensors.contains(where: { $0.name == t.name }) else { throw CoreError.invalid("GGUF: tensor '\(t.name)' added twice") }
        guard !t.shape.isEmpty, t.shape.count <= GGUFFile.maxDims, let inner = t.shape.last, inner % t.type.blockSize == 0 else {
            throw CoreError.invalid("GGUF: tensor '\(t.name)' of shape \(t.shape) cannot be stored as \(t.type.name)")
        }
        tensors.append(t)
    }

    /// A LinearWeight stored in a ggml type, written as its blocks (rows in the file layout).
    public mutating func add(name: String, weight: GGMLLinear) throws {
        guard let type = GGMLType(rawValue: weight.type.ggmlTypeID) else { throw CoreError.invalid("GGUF: no ggml type for \(weight.type)") }
        try add(TensorEntry(name: name, shape: [weight.outFeatures, weight.inFeatures], type: type, byteCount: weight.storedBytes) { dst in
            for r in 0..<weight.outFeatures { weight.copyPlainRow(r, into: dst + r * weight.rowBytes) }
        })
    }

    /// F32 values.
    public mutating func add(name: String, shape: [Int], values: [Float]) throws {
        guard values.count == shape.reduce(1, *) else { throw CoreError.invalid("GGUF: tensor '\(name)' has \(values.count) values for shape \(shape)") }
        try add(TensorEntry(name: name, shape: shape, type: .f32, byteCount: 4 * values.count) { dst in
            values.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        })
    }

    /// Writes the file (replacing `path`); errors name the path.
    public func write(to path: String) throws {
        var header = Data()
        header.append(contentsOf: Array("GGUF".utf8))
        Self.put(&header, UInt32(3))
        Self.put(&header, UInt64(tensors.count))
        var meta = metadata
        if !meta.contains(where: { $0.key == "general.alignment" }) { meta.append(("general.alignment", .uint32(UInt32(alignment)))) }
        Self.put(&header, UInt64(meta.count))
        for (k, v) in meta {
            Self.putString(&header, k)
            Self.put(&header, v.type.rawValue)
            Self.putValue(&header, v)
        }
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            offsets.append(offset)
            Self.putString(&header, t.name)
            Self.put(&header, UInt32(t.shape.count))
            for d in t.shape.reversed() { Self.put(&header, UInt64(d)) }
            Self.put(&header, t.type.rawValue)
            Self.put(&header, UInt64(offset))
            offset = Self.align(offset + t.byteCount, alignment)
        }
        header.append(Data(count: Self.align(header.count, alignment) - header.count))

        guard FileManager.default.createFile(atPath: path, contents: nil),
              let fh = FileHandle(forWritingAtPath: path) else {
            throw CoreError.file(path, "cannot create the file (does the directory exist and is it writable?)")
        }
        defer { try? fh.close() }
        do {
            try fh.write(contentsOf: header)
            for (i, t) in tensors.enumerated() {
                let padded = (i + 1 < tensors.count ? offsets[i + 1] : Self.align(offsets[i] + t.byteCount, alignment)) - offsets[i]
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(padded, 1), alignment: 64)
                defer { buf.deallocate() }
                buf.initializeMemory(as: UInt8.self, repeating: 0)
                try t.fill(buf.baseAddress!)
                try fh.write(contentsOf: UnsafeRawBufferPointer(rebasing: buf[0..<padded]))
            }
        } catch let e as CoreError {
            throw e
        } catch {
            throw CoreError.file(path, "write failed: \(error.localizedDescription)")
        }
    }

    static func align(_ x: Int, _ a: Int) -> Int { (x + a - 1) / a * a }

    static func put<T: FixedWidthInteger>(_ d: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }

    static func putString(_ d: inout Data, _ s: String) {
        let bytes = Array(s.utf8)
        put(&d, UInt64(bytes.count))
        d.append(contentsOf: bytes)
    }

    static func putValue(_ d: inout Data, _ v: GGUFValue) {
        switch v {
        case let .uint8(x): put(&d, x)
        case let .int8(x): put(&d, x)
        case let .uint16(x): put(&d, x)
        case let .int16(x): put(&d, x)
        case let .uint32(x): put(&d, x)
        case let .int32(x): put(&d, x)
        case let .uint64(x): put(&d, x)
        case let .int64(x): put(&d, x)
        case let .float32(x): put(&d, x.bitPattern)
        case let .float64(x): put(&d, x.bitPattern)
        case let .bool(x): put(&d, UInt8(x ? 1 : 0))
        case let .string(s): putString(&d, s)
        case let .array(t, items):
            put(&d, t.rawValue)
            put(&d, UInt64(items.count))
            for item in items { putValue(&d, item) }
        }
    }
}
