// A GGUF file → a GGUF file with its matrices in another ggml type or K-quant mix, tensor by
// tensor, as `llama-quantize` does: whatever the architecture, the metadata is copied (with
// `general.file_type` set), the tensors llama-quantize quantizes (KQuantMix.allowsQuantization)
// are decoded to F32 row by row and re-quantized to the type the target chooses (falling back as
// llama.cpp does where the block does not divide a row), and every other tensor is copied as it is.
// One tensor is in memory at a time.
import Foundation

public enum GGUFRequantize {
    public static func write(_ file: GGUFFile, target: GGMLTarget, to path: String) throws -> [GGUFExport.Written] {
        let types = target.types(for: file.mixTensors, model: try file.mixModel())
        var w = GGUFWriter()
        for key in file.keys where key != "general.alignment" { w.set(key, file.metadata[key]!) }
        w.set("general.file_type", .uint32(target.llamaFileType))
        w.set("general.quantization_version", .uint32(2))
        var written: [GGUFExport.Written] = []
        for info in file.tensors {
            let shape = info.shape
            guard let asked = types[info.name] else {
                try w.add(GGUFWriter.TensorEntry(name: info.name, shape: shape, type: info.type, byteCount: info.byteCount) { dst in
                    dst.copyMemory(from: file.storage.base + info.fileOffset, byteCount: info.byteCount)
                })
                written.append(.init(name: info.name, shape: shape, type: info.type.name.lowercased(), bytes: info.byteCount, note: nil))
                continue
            }
            let n = info.dims[0], rows = info.elementCount / max(n, 1)
            let (type, note) = asked.fitting(rowLength: n)
            guard let ggml = GGMLType(rawValue: type.ggmlTypeID) else { throw CoreError.invalid("GGUF: no ggml type for \(type)") }
            let decode = try rowDecoder(file, info)
            let rb = type.rowBytes(n), src = UnsafeRawPointer(file.storage.base + info.fileOffset), srcRow = info.byteCount / max(rows, 1)
            try w.add(GGUFWriter.TensorEntry(name: info.name, shape: shape, type: ggml, byteCount: rb * rows) { dst in
                let parts = min(rows, 4 * ProcessInfo.processInfo.activeProcessorCount)
                DispatchQueue.concurrentPerform(iterations: parts) { c in
                    var x = [Float](repeating: 0, count: n)
                    x.withUnsafeMutableBufferPointer { xp in
                        for r in (rows * c / parts)..<(rows * (c + 1) / parts) {
                            decode(src + r * srcRow, xp.baseAddress!)
                            GGMLLinear.quantizeRow(type, xp.baseAddress!, count: n, into: dst + r * rb)
                        }
                    }
                }
            })
            written.append(.init(name: info.name, shape: shape, type: type.name, bytes: rb * rows, note: note))
        }
        try w.write(to: path)
        return written
    }

    /// Decodes one stored row of `info` to F32 (F32, F16, BF16 or any block type exprun reads).
    static func rowDecoder(_ file: GGUFFile, _ info: GGUFTensorInfo) throws -> (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void {
        let n = info.dims[0]
        if info.type == .bf16 {
            return { src, x in for i in 0..<n { x[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) } }
        }
        guard let format = GGMLFormat(ggmlTypeID: info.type.rawValue), format != .q8_k else {
            throw CoreError.unsupported("\(file.path): tensor '\(info.name)' is stored as \(info.type.name); exprun reads \(GGMLFormat.weightTypes.map(\.ggmlName).joined(separator: ", ")) and BF16")
        }
        return { src, x in GGMLLinear.dequantize(format, src, count: n, into: x) }
    }
}

extension GGUFFile {
    /// The tensors as llama.cpp's type rules see them.
    public var mixTensors: [KQuantMix.Tensor] { tensors.map { KQuantMix.Tensor(name: $0.name, dims: $0.dims) } }

    /// The model facts llama.cpp's type rules use, from `<arch>.block_count` and the head counts.
    public func mixModel() throws -> KQuantMix.Model {
        guard let arch = metadata["general.architecture"]?.string else {
            throw CoreError.file(path, "no general.architecture: cannot choose tensor types by llama.cpp's rules")
        }
        let layers = metadata["\(arch).block_count"]?.int ?? 0
        func first(_ key: String) -> Int? { metadata[key]?.int ?? metadata[key]?.ints?.first }
        let heads = first("\(arch).attention.head_count") ?? 1, kv = first("\(arch).attention.head_count_kv") ?? heads
        return KQuantMix.Model(architecture: arch, layers: layers, gqa: kv > 0 ? heads / kv : 0)
    }
}
