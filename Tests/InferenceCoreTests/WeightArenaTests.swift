// Storage(weightBytes:): weights under 2 MB packed into shared chunks whose whole 2 MB pages become
// huge pages (WeightArena). Each buffer must be what Storage promises (zeroed, 64-byte aligned, its
// own bytes whatever its neighbours do), lie on huge pages once 2 MB are covered, and go when freed.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct WeightArenaTests {
    /// Sizes that are and are not multiples of the 64-byte alignment, up to just under 2 MB.
    static let sizes = [1, 63, 64, 100_000, 4096 * 3 + 1, (2 << 20) - 1]

    @Test func buffersAreAlignedZeroedAndKeepTheirBytes() throws {
        let arena = WeightArena(chunkBytes: 4 << 20)
        let buffers = (0..<3).flatMap { _ in Self.sizes.map { Storage(weightBytes: $0, arena: arena) } }
        for (k, b) in buffers.enumerated() {
            #expect(Int(bitPattern: b.base) % 64 == 0)
            #expect(b.byteCount == Self.sizes[k % Self.sizes.count])
            let bytes = UnsafeBufferPointer(start: b.base.assumingMemoryBound(to: UInt8.self), count: b.byteCount)
            #expect(bytes.allSatisfy { $0 == 0 })
            memset(b.base, Int32(k + 1), b.byteCount)
        }
        // 18 buffers of up to 2 MB in 4 MB chunks: several chunks, no buffer overlapping another.
        #expect(arena.chunkCount > 1)
        for (k, b) in buffers.enumerated() {
            let bytes = UnsafeBufferPointer(start: b.base.assumingMemoryBound(to: UInt8.self), count: b.byteCount)
            #expect(bytes.allSatisfy { $0 == UInt8(k + 1) }, "buffer \(k) of \(b.byteCount) bytes was overwritten")
        }
        #if os(Linux)
        // The first 2 MB of the first chunk, covered whole, is one huge page (where the kernel gives
        // them: THP mode not "never"); the 4 KB pages of a part-covered last 2 MB are all that is resident there.
        let thp = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "[never]"
        if !thp.contains("[never]") {
            #expect(arena.collapsedPages >= 1)
            let huge = Self.smaps(containing: buffers[0].base, field: "AnonHugePages:").split(separator: " ").dropFirst().first
            #expect((huge.flatMap { Int($0) } ?? 0) >= 2048)
        }
        #endif
        #expect(buffers.allSatisfy { !$0.isMapped })
    }

    @Test func freedChunksGoAndAnEmptiedChunkStartsOverZeroed() {
        let arena = WeightArena(chunkBytes: 4 << 20)
        var first: [Storage] = (0..<4).map { _ in Storage(weightBytes: 1 << 20, arena: arena) }   // fills a chunk
        var kept: Storage? = first.removeLast()
        var last: Storage? = Storage(weightBytes: 1 << 20, arena: arena)                          // a second chunk
        #expect(arena.chunkCount == 2)
        memset(last!.base, 7, 1 << 20)
        let lastBase = last!.base
        first.removeAll()
        withExtendedLifetime(kept) { #expect(arena.chunkCount == 2) }   // the first chunk holds `kept`
        kept = nil
        #expect(arena.chunkCount == 1)                                     // ... and goes with it
        last = nil                  // the current chunk, emptied: filled again from its start, zeroed
        let again = Storage(weightBytes: 1000, arena: arena)
        #expect(again.base == lastBase && arena.chunkCount == 1)
        #expect(UnsafeBufferPointer(start: again.base.assumingMemoryBound(to: UInt8.self), count: 1000).allSatisfy { $0 == 0 })
        _ = (kept, last)
    }

    @Test func largeWeightsAndTypedArrays() {
        let big = Storage(weightBytes: 3 << 20)
        #expect(Int(bitPattern: big.base) % (2 << 20) == 0)   // its own 2 MB-aligned mapping
        let a = WeightArray<Int8>(repeating: -3, count: 1001)
        #expect(a.count == 1001 && a.allSatisfy { $0 == -3 } && a == [Int8](repeating: -3, count: 1001))
        a.mutableBase[1000] = 5
        #expect(a[1000] == 5 && !(a == [Int8](repeating: -3, count: 1001)))
        #expect(a.withUnsafeBytes { $0.count } == 1001)
    }

    /// The line starting with `field` of the /proc/self/smaps entry whose range holds `p` (read to
    /// its end: a single read of a /proc file stops after a page, which String(contentsOfFile:) takes for all).
    static func smaps(containing p: UnsafeMutableRawPointer, field: String) -> String {
        guard let f = fopen("/proc/self/smaps", "r") else { return "" }
        defer { fclose(f) }
        let a = UInt(bitPattern: Int(bitPattern: p))
        var inside = false
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), f) != nil {
            let line = String(cString: buffer)
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let lo = UInt(line[..<dash], radix: 16), let hi = UInt(line[line.index(after: dash)..<space], radix: 16) {
                inside = lo <= a && a < hi
            } else if inside, line.hasPrefix(field) {
                return line
            }
        }
        return ""
    }
}
