// A tensor is a typed, shaped view into a Storage. Shapes are outermost-first (row-major), as in
// safetensors and PyTorch; GGUF lists dimensions innermost-first and its reader reverses them.
import Foundation

public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", u8 = "U8", i16 = "I16", i32 = "I32", i64 = "I64", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .i8, .u8, .bool: 1
        case .f16, .bf16, .i16: 2
        case .f32, .i32: 4
        case .f64, .i64: 8
        }
    }

    public var isFloat: Bool { [.f32, .f16, .bf16, .f64].contains(self) }
}

public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: Storage
    public let byteOffset: Int

    public init(dtype: DType, shape: [Int], storage: Storage, byteOffset: Int = 0) {
        self.dtype = dtype; self.shape = shape; self.storage = storage; self.byteOffset = byteOffset
    }

    /// New owned F32 tensor.
    public init(zeros shape: [Int]) {
        let n = shape.reduce(1, *)
        self.init(dtype: .f32, shape: shape, storage: Storage(byteCount: n * 4))
    }

    public init(_ values: [Float], shape: [Int]) {
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            mutableFloats.baseAddress!.update(from: src.baseAddress!, count: values.count)
        }
    }

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.byteSize }
    public var raw: UnsafeRawPointer { UnsafeRawPointer(storage.base + byteOffset) }

    public var floats: UnsafeBufferPointer<Float> {
        precondition(dtype == .f32, "tensor is \(dtype.rawValue), not F32")
        return UnsafeBufferPointer(start: raw.assumingMemoryBound(to: Float.self), count: count)
    }

    public var mutableFloats: UnsafeMutableBufferPointer<Float> {
        precondition(dtype == .f32 && !storage.isMapped, "only owned F32 tensors are mutable")
        return UnsafeMutableBufferPointer(start: (storage.base + byteOffset).assumingMemoryBound(to: Float.self), count: count)
    }

    /// The values widened to Float, whatever the stored float type (F32, F16, BF16).
    public func toFloatArray() throws -> [Float] {
        guard dtype.isFloat else { throw CoreError.invalid("tensor of type \(dtype.rawValue) is not floating point") }
        return [Float](unsafeUninitializedCapacity: count) { buf, n in
            if count > 0 { readFloats(0..<count, into: buf.baseAddress!) }
            n = count
        }
    }

    /// Elements `range` (flat indices) widened to F32 into `dst`; the dtype must be a float type.
    public func readFloats(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let lo = range.lowerBound
        switch dtype {
        case .f32: dst.update(from: raw.assumingMemoryBound(to: Float.self) + lo, count: range.count)
        case .f16:
            let p = raw.assumingMemoryBound(to: Float16.self) + lo
            for i in 0..<range.count { dst[i] = Float(p[i]) }
        case .bf16:
            let p = raw.assumingMemoryBound(to: UInt16.self) + lo
            for i in 0..<range.count { dst[i] = Float(bitPattern: UInt32(p[i]) << 16) }
        case .f64:
            let p = raw.assumingMemoryBound(to: Double.self) + lo
            for i in 0..<range.count { dst[i] = Float(p[i]) }
        default:
            preconditionFailure("readFloats of a \(dtype.rawValue) tensor")
        }
    }

    /// Widened to an owned F32 tensor (shares storage when already F32).
    public func asF32() throws -> Tensor {
        if dtype == .f32 { return self }
        return Tensor(try toFloatArray(), shape: shape)
    }

    public func toInt64Array() throws -> [Int64] {
        switch dtype {
        case .i64: return Array(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: Int64.self), count: count))
        case .i32: return UnsafeBufferPointer(start: raw.assumingMemoryBound(to: Int32.self), count: count).map(Int64.init)
        default: throw CoreError.invalid("tensor of type \(dtype.rawValue) is not an integer tensor")
        }
    }
}
