// How fast the machine lets this process read memory right now, measured on the model's own
// weights: every matrix a decode step multiplies whole (each layer's projections and the output
// head; not an embedding table that is only looked up row by row) is read once, as stored, split
// over the model's own thread pool. No buffer is allocated and no page is read that a decode step
// does not read, so the run's memory figures stay as they are.
//
// Why: on a virtual machine the host places the virtual CPUs, and the same two threads read memory
// at 43-55 GB/s for minutes, then at 81-97 (this probe, round by round, in the noise check of
// 2026-11-30 15:02, where FP32 decoded at 98 and 153 tok/s). A decode step reads every weight once, so its speed follows, and CPU-time
// counters cannot see it. For weights larger than the last-level cache the probe's figure is the
// decode's own ceiling; weights that fit in the cache are read from it, and the figure is then the
// cache's speed. A probe times two passes over the matrices and keeps the faster: a few
// milliseconds (GPT-2 124M in FP32: 2 × 471 MiB).
import Foundation
import Synchronization

public struct BandwidthSample: Sendable, Codable, Equatable {
    /// Bytes one timed pass read (the matrices' stored bytes times `passes`, the times it read them).
    public var bytes: Int
    public var seconds: Double
    public var passes: Int
    public init(bytes: Int, seconds: Double, passes: Int) { self.bytes = bytes; self.seconds = seconds; self.passes = passes }
    /// 10⁹ bytes per second.
    public var gigabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e9 : 0 }
}

public enum BandwidthProbe {
    /// A timed pass reads at least this much (weights that fit in the cache are read several times).
    public static let minimumBytes = 32 << 20

    /// Reads `model`'s decode matrices with its pool; nil when the architecture names none.
    public static func measure(_ model: LanguageModel) -> BandwidthSample? {
        let matrices = decodeMatrices(of: model)
        return matrices.isEmpty ? nil : measure(matrices, pool: model.pool)
    }

    public static func measure(_ matrices: [LinearWeight], pool: ThreadPool) -> BandwidthSample {
        withStoredBytes(matrices[...], []) { regions in
            let bytesPerPass = regions.reduce(0) { $0 + $1.count }
            guard bytesPerPass > 0 else { return BandwidthSample(bytes: 0, seconds: 0, passes: 0) }
            // Passes of at least `minimumBytes`; the faster of two, so that waking the pool's
            // sleeping workers (a scheduler's time slice on a busy machine) is not counted.
            let perPass = (minimumBytes + bytesPerPass - 1) / bytesPerPass
            var best = Double.infinity
            for _ in 0..<2 {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<perPass { read(regions, pool: pool) }
                best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return BandwidthSample(bytes: perPass * bytesPerPass, seconds: best, passes: perPass)
        }
    }

    /// All matrices' stored bytes at once, so that one split over the pool reads them all (one
    /// split per matrix would add a synchronisation per matrix, which small matrices feel).
    static func withStoredBytes<R>(_ matrices: ArraySlice<LinearWeight>, _ regions: [UnsafeRawBufferPointer],
                                   _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        guard let first = matrices.first else { return body(regions) }
        return first.withStoredBytes { withStoredBytes(matrices.dropFirst(), regions + $0, body) }
    }

    /// The matrices every decode step reads whole, each object once (a tied head is the embedding).
    public static func decodeMatrices(of model: LanguageModel) -> [LinearWeight] {
        var all: [LinearWeight]
        switch model {
        case let m as GPT2:
            all = m.blocks.flatMap { [$0.attention, $0.attentionProjection, $0.fc, $0.projection] } + [m.head]
        case let m as DecoderModel:
            all = m.layers.flatMap { l in [l.qkv, l.q, l.k, l.v, l.o, l.gate, l.up, l.down].compactMap { $0 } } + [m.head]
        default:
            all = []
        }
        var seen = Set<ObjectIdentifier>()
        return all.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// What one pass reads of `w`: its stored bytes (codes, scales, code books as stored).
    public static func storedBytesRead(_ w: LinearWeight) -> Int {
        w.withStoredBytes { $0.reduce(0) { $0 + $1.count } }
    }

    /// Where the sums go (an atomic store is never left out, so neither are the reads).
    private static let sink = Atomic<UInt64>(0)

    /// Reads every byte of `regions` once, the whole split over the pool in 4 KiB pieces.
    static func read(_ regions: [UnsafeRawBufferPointer], pool: ThreadPool) {
        let piece = 4096
        var starts: [Int] = [], total = 0
        for r in regions { starts.append(total); total += r.count }
        guard total > 0 else { return }
        pool.parallelFor((total + piece - 1) / piece) { range in
            let lo = range.lowerBound * piece, hi = Swift.min(total, range.upperBound * piece)
            var sum: UInt64 = 0
            for (k, r) in regions.enumerated() {
                let a = Swift.max(lo, starts[k]), b = Swift.min(hi, starts[k] + r.count)
                if a < b { sum &+= readSum(r.baseAddress! + (a - starts[k]), count: b - a) }
            }
            sink.store(sum, ordering: .relaxed)
        }
    }

    /// Every byte loaded, in 64-byte vectors with four independent sums (as scripts/read-bandwidth.c).
    @inline(never)
    static func readSum(_ p: UnsafeRawPointer, count: Int) -> UInt64 {
        typealias V = SIMD8<UInt64>
        var a = V(), b = V(), c = V(), d = V()
        var i = 0
        while i + 256 <= count {
            a &+= p.loadUnaligned(fromByteOffset: i, as: V.self)
            b &+= p.loadUnaligned(fromByteOffset: i + 64, as: V.self)
            c &+= p.loadUnaligned(fromByteOffset: i + 128, as: V.self)
            d &+= p.loadUnaligned(fromByteOffset: i + 192, as: V.self)
            i += 256
        }
        var sum = (a &+ b &+ c &+ d).wrappedSum()
        while i < count { sum &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self)); i += 1 }
        return sum
    }
}

extension LinearWeight {
    /// The bytes a product reads, as stored, for as long as `body` runs; none for a format this
    /// does not know (the probe then reads the others).
    func withStoredBytes<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        switch self {
        case let w as F32Linear:
            return body([UnsafeRawBufferPointer(start: w.weight.raw, count: w.storedBytes)])
        case let w as F16Linear:
            return body([UnsafeRawBufferPointer(start: w.storage.base, count: w.storedBytes)])
        case let w as BF16Linear:
            return body([UnsafeRawBufferPointer(start: w.storage.base, count: w.storedBytes)])
        case let w as GGMLLinear:
            return body([UnsafeRawBufferPointer(start: w.blocks, count: w.storedBytes)])
        case let w as BnbInt8Linear:
            return w.cb.withUnsafeBytes { cb in w.scb.withUnsafeBytes { scb in body([cb, scb]) } }
        case let w as Bnb4BitLinear:
            return w.packed.withUnsafeBytes { packed in
                w.doubleQuant
                    ? w.absmax8.withUnsafeBytes { a8 in w.absmax2.withUnsafeBytes { a2 in body([packed, a8, a2]) } }
                    : w.absmax.withUnsafeBytes { a in body([packed, a]) }
            }
        case let w as GroupQuantizedLinear:
            return w.scales.withUnsafeBytes { scales in w.zeros.withUnsafeBytes { zeros in w.position.withUnsafeBytes { position in
                body([UnsafeRawBufferPointer(start: w.codes.base, count: w.rowBytes * w.outFeatures), scales, zeros]
                     + (w.contiguous ? [] : [position]))
            } } }
        default:
            return body([])
        }
    }
}
