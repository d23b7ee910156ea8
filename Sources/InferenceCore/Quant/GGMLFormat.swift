// llama.cpp's tensor types (ggml types) that exprun stores and computes on: their ids in GGUF
// files, block sizes and bytes, and llama.cpp's rule for a row that a block does not divide.
// The block layouts themselves open each format's file (Q8_0.swift, Q4_0.swift, Q5_0.swift,
// Q4_K.swift, Q6_K.swift, Q8_K.swift). Shared numeric helpers that must behave exactly as ggml's
// C code (fp16 rounding, `nearest_int`) live here so every format uses the same ones.
import Foundation

public enum GGMLFormat: String, Sendable, CaseIterable {
    case f32, f16, q4_0, q5_0, q8_0, q4_k, q6_k, q8_k

    /// The type id in GGUF tensor infos (`enum ggml_type`).
    public var ggmlTypeID: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q5_0: 6
        case .q8_0: 8
        case .q4_k: 12
        case .q6_k: 14
        case .q8_k: 15
        }
    }

    public init?(ggmlTypeID id: UInt32) {
        guard let f = GGMLFormat.allCases.first(where: { $0.ggmlTypeID == id }) else { return nil }
        self = f
    }

    /// Weights per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16: 1
        case .q4_0, .q5_0, .q8_0: 32
        case .q4_k, .q6_k, .q8_k: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16: 2
        case .q4_0: 18
        case .q5_0: 22
        case .q8_0: 34
        case .q4_k: 144
        case .q6_k: 210
        case .q8_k: 292
        }
    }

    /// Name as experiment files and reports write it ("fp32", "fp16", "q4_k", ...).
    public var name: String {
        switch self {
        case .f32: "fp32"
        case .f16: "fp16"
        default: rawValue
        }
    }

    /// Name as llama.cpp prints it ("F32", "Q4_K").
    public var ggmlName: String { rawValue.uppercased() }

    public func rowBytes(_ n: Int) -> Int { n / blockSize * blockBytes }

    /// The type llama.cpp's `llama-quantize` actually stores for rows of `rowLength` when `self`
    /// was asked for (`tensor_type_fallback` in llama-quant.cpp): a 256-block K-type falls back to
    /// a 32-block type (Q4_K → Q5_0, Q6_K → Q8_0), and a row that 32 does not divide either is
    /// stored as F16. Returns the type and, when it differs, why.
    public func fitting(rowLength n: Int) -> (format: GGMLFormat, note: String?) {
        if n % blockSize == 0 { return (self, nil) }
        var target: GGMLFormat
        switch self {
        case .q4_k: target = .q5_0
        case .q6_k, .q8_k: target = .q8_0
        default: target = self
        }
        if n % target.blockSize != 0 { target = .f16 }
        let why = "row length \(n) is not a multiple of \(blockSize) (\(name)'s block): stored as \(target.name), as llama.cpp does"
        return (target, why)
    }
}

/// ggml's fp32 → fp16 conversion (F16C `vcvtps2ph`, round to nearest even; NaN stays NaN).
@inline(__always) func fp16Bits(_ f: Float) -> UInt16 { Float16(f).bitPattern }
@inline(__always) func fp16Value(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

/// ggml's `nearest_int`: rounds through the float adder (to nearest, ties to even) by adding
/// 1.5·2²³ and reading the mantissa. Exact for |x| ≤ 4194303, which every caller guarantees.
@inline(__always) func nearestInt(_ x: Float) -> Int32 {
    let v = x + 12582912
    return Int32(bitPattern: v.bitPattern & 0x007f_ffff) - 0x0040_0000
}

/// Unaligned little-endian reads and writes of block fields.
@inline(__always) func loadU16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}
@inline(__always) func storeU16(_ v: UInt16, _ p: UnsafeMutableRawPointer, _ offset: Int) {
    p.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt16.self)
}
