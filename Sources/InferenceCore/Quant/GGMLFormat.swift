// llama.cpp's tensor types (ggml types) that exprun stores and computes on: their ids in GGUF
// files, block sizes and bytes, and llama.cpp's rule for a row that a block does not divide.
// The block layouts themselves open each format's file (Q4_0.swift ... Q8_0.swift, Q2_K.swift ...
// Q6_K.swift, IQ4_NL.swift, IQ4_XS.swift; q8_K activations in Kernels/ActivationQuant.swift).
// Shared numeric helpers that must behave exactly as ggml's C code (fp16 rounding, `nearest_int`)
// live here so every format uses the same ones.
import Foundation

public enum GGMLFormat: String, Sendable, CaseIterable {
    case f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, q8_k

    /// The type id in GGUF tensor infos (`enum ggml_type`).
    public var ggmlTypeID: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q2_k: 10
        case .q3_k: 11
        case .q4_k: 12
        case .q5_k: 13
        case .q6_k: 14
        case .q8_k: 15
        case .iq4_nl: 20
        case .iq4_xs: 23
        }
    }

    public init?(ggmlTypeID id: UInt32) {
        guard let f = GGMLFormat.allCases.first(where: { $0.ggmlTypeID == id }) else { return nil }
        self = f
    }

    /// The types weights are stored in (q8_K only carries activations).
    public static var weightTypes: [GGMLFormat] { allCases.filter { $0 != .q8_k } }

    /// Weights per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl: 32
        case .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs, .q8_k: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16: 2
        case .q4_0: Q4_0.blockBytes
        case .q4_1: Q4_1.blockBytes
        case .q5_0: Q5_0.blockBytes
        case .q5_1: Q5_1.blockBytes
        case .q8_0: Q8_0.blockBytes
        case .q2_k: Q2_K.blockBytes
        case .q3_k: Q3_K.blockBytes
        case .q4_k: Q4_K.blockBytes
        case .q5_k: Q5_K.blockBytes
        case .q6_k: Q6_K.blockBytes
        case .iq4_nl: IQ4_NL.blockBytes
        case .iq4_xs: IQ4_XS.blockBytes
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

    /// Name as llama.cpp prints it ("F32", "Q4_K", "IQ4_XS").
    public var ggmlName: String { rawValue.uppercased() }

    public func rowBytes(_ n: Int) -> Int { n / blockSize * blockBytes }

    /// The type llama.cpp's `llama-quantize` stores for rows of `rowLength` when `self` was asked
    /// for (`tensor_type_fallback` in src/llama-quant.cpp at the pinned llama.cpp): a 256-block
    /// type falls back to a 32-block one (Q2_K, Q3_K → Q4_0; Q4_K → Q5_0; Q5_K → Q5_1; Q6_K → Q8_0;
    /// IQ4_XS → IQ4_NL), and a row that 32 does not divide either — or a 32-block type's row —
    /// is stored as F16. Returns the type and, when it differs, why.
    public func fitting(rowLength n: Int) -> (format: GGMLFormat, note: String?) {
        if n % blockSize == 0 { return (self, nil) }
        var target: GGMLFormat
        switch self {
        case .q2_k, .q3_k: target = .q4_0
        case .q4_k: target = .q5_0
        case .q5_k: target = .q5_1
        case .q6_k, .q8_k: target = .q8_0
        case .iq4_xs: target = .iq4_nl
        default: target = self
        }
        if n % target.blockSize != 0 { target = .f16 }
        var why = "row length \(n) is not a multiple of \(blockSize) (\(name)'s block): stored as \(target.name), as llama-quantize does"
        if blockSize == 32 {
            // Older llama.cpp threw "Unsupported tensor size encountered" here instead.
            why += " (llama.cpp 0c1e57098, the version exprun is checked against; older llama-quantize refuses such a tensor)"
        }
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

/// C's float → integer conversion as x86 does it (`cvttss2si`): toward zero, and INT_MIN for NaN
/// or out-of-range values, where Swift's `Int(_:)` would trap. The reference quantizers' casts
/// (`(int8_t)(x + 0.5f)`) then keep the low byte.
@inline(__always) func cTruncate(_ x: Float) -> Int32 {
    x > -2147483904 && x < 2147483648 ? Int32(x) : Int32.min
}

/// Unaligned little-endian reads and writes of block fields.
@inline(__always) func loadU16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}
@inline(__always) func storeU16(_ v: UInt16, _ p: UnsafeMutableRawPointer, _ offset: Int) {
    p.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt16.self)
}
