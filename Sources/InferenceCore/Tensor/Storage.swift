// Bytes behind tensors: either owned (allocated, 64-byte aligned for SIMD loads) or a read-only
// memory map of a checkpoint file. Mapping matters for honest memory figures: mapped weights are
// file-backed pages that count as RSS only once touched, owned ones are anonymous memory.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class Storage: @unchecked Sendable {
    public enum Kind: Sendable { case owned, mapped(path: String) }

    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    public let kind: Kind

    /// Zero-filled owned memory.
    public init(byteCount: Int) {
        let size = max(byteCount, 1)
        self.byteCount = byteCount
        kind = .owned
        // Weight matrices are streamed whole for every token: on 4 KB pages that is a TLB miss per
        // page (125,000 per GPT-2 small token). Large buffers get their own mapping, 2 MB aligned,
        // whose whole 2 MB pages are offered to transparent huge pages (Linux, THP mode "madvise");
        // the tail stays on 4 KB pages. (From the malloc heap, neighbouring buffers' advice merged
        // and a 2.5 MB tensor came to occupy two huge pages, 4 MB.) Fresh anonymous pages are zero.
        #if os(Linux)
        let huge = 2 << 20
        if size >= huge {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let length = (size + page - 1) / page * page
            if let raw = mmap(nil, length + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED {
                let start = (Int(bitPattern: raw) + huge - 1) / huge * huge
                let head = start - Int(bitPattern: raw), tail = huge - head
                if head > 0 { munmap(raw, head) }
                if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + length)!, tail) }
                base = UnsafeMutableRawPointer(bitPattern: start)!
                _ = madvise(base, size / huge * huge, MADV_HUGEPAGE)
                mappedLength = length
                chunk = nil
                return
            }
        }
        #endif
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        mappedLength = 0
        chunk = nil
    }

    /// Length of the anonymous mapping behind a large owned buffer (0: from the heap or the arena).
    private let mappedLength: Int
    /// The weight arena's chunk holding this buffer (nil: not from the arena).
    private let chunk: WeightArena.Chunk?

    /// Zero-filled owned memory for a weight that every decoded token reads whole. Under 2 MB (most
    /// quantized matrices of a small model: GPT-2's bnb-nf4 ones are 0.3-1.2 MB) a buffer of its own
    /// would lie on 4 KB pages; these are packed side by side, 64-byte aligned, into shared chunks
    /// whose whole 2 MB become huge pages (WeightArena). Larger ones get their own mapping as
    /// `init(byteCount:)` gives.
    public convenience init(weightBytes byteCount: Int) { self.init(weightBytes: byteCount, arena: .shared) }

    convenience init(weightBytes byteCount: Int, arena: WeightArena) {
        if byteCount < WeightArena.hugePage, let (p, c) = arena.allocate(max(byteCount, 1)) {
            self.init(arena: p, chunk: c, byteCount: byteCount)
        } else {
            self.init(byteCount: byteCount)
        }
    }

    private init(arena p: UnsafeMutableRawPointer, chunk c: WeightArena.Chunk, byteCount: Int) {
        base = p; self.byteCount = byteCount; kind = .owned; mappedLength = 0; chunk = c
    }

    /// Maps `path` read-only. Errors name the file.
    public init(mapping path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CoreError.file(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CoreError.file(path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size > 0 else { throw CoreError.file(path, "file is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CoreError.file(path, "cannot memory-map: \(String(cString: strerror(errno)))")
        }
        base = p
        byteCount = size
        kind = .mapped(path: path)
        mappedLength = 0
        chunk = nil
    }

    deinit {
        switch kind {
        case .owned:
            if let chunk { chunk.arena.release(chunk) } else if mappedLength > 0 { munmap(base, mappedLength) } else { base.deallocate() }
        case .mapped: munmap(base, byteCount)
        }
    }

    public var isMapped: Bool { if case .mapped = kind { return true } else { return false } }

    /// Gives back the resident pages of a mapped range once its bytes have been read (converted or
    /// quantized elsewhere): they are file-backed, so reading them again just faults them back in.
    /// Only whole pages inside the range go; owned memory is left alone.
    public func dropPages(byteOffset: Int, count: Int) {
        #if os(Linux)
        guard isMapped, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (byteOffset + page - 1) / page * page, end = (byteOffset + count) / page * page
        if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
        #endif
    }
}

/// Chunks of anonymous memory handed out front to back to weights under 2 MB
/// (`Storage(weightBytes:)`), each 2 MB of a chunk turned into one huge page once buffers cover it
/// whole (MADV_COLLAPSE, synchronous, whatever the THP mode but "never"). A streaming read over
/// 4 KB pages walks the page tables every 4 KB and the hardware prefetcher stops at each page's end;
/// the probe (scripts/read-bandwidth.c) reads 2 MB pages. The chunk's last, partly covered 2 MB
/// stay on 4 KB pages (advised for huge pages up front, their first touch would make all 2 MB
/// resident), so what is resident is what was handed out. Space is never reused while a chunk
/// holds a live buffer: a chunk whose buffers are all freed is unmapped, or, the one being filled,
/// given back to the kernel and filled again from its start (fresh pages, so every buffer starts
/// zeroed). Nor does a weight reuse heap space that loading freed: ggml types (GGMLLinear) stay on
/// `init(byteCount:)` because, in the arena, GPT-2 q4_0's load peak rose 4 MB and passed issue 4's
/// bound (LoadMemoryEndToEndTests: weights + KV cache + 15%).
final class WeightArena: @unchecked Sendable {
    static let shared = WeightArena()
    static let hugePage = 2 << 20
    /// Linux's MADV_COLLAPSE (since 6.1), which Glibc's Swift module does not name.
    static let collapse: Int32 = 25
    /// Address space per chunk (untouched pages cost nothing): a small model's quantized weights
    /// fit one of the default 64 MB. A multiple of 2 MB.
    let chunkBytes: Int
    /// Chunks now mapped, and 2 MB pages the kernel collapsed (for tests).
    private(set) var chunkCount = 0, collapsedPages = 0

    init(chunkBytes: Int = 64 << 20) { self.chunkBytes = chunkBytes }

    final class Chunk {
        let arena: WeightArena
        let base: UnsafeMutableRawPointer
        /// Bytes handed out; 2 MB pages asked to collapse (all those below `used`, whole).
        var used = 0, live = 0, collapsed = 0
        init(arena: WeightArena, base: UnsafeMutableRawPointer) { self.arena = arena; self.base = base }
    }

    private var current: Chunk?
    private let lock = NSLock()

    /// 64-byte aligned zeroed bytes in a chunk, or nil when no chunk can be mapped.
    func allocate(_ count: Int) -> (UnsafeMutableRawPointer, Chunk)? {
        lock.lock(); defer { lock.unlock() }
        let size = (count + 63) & ~63
        if current == nil || current!.used + size > chunkBytes {
            guard let c = map() else { return nil }
            current = c
            chunkCount += 1   // the previous chunk holds live buffers (an emptied current one restarts at 0)
        }
        let c = current!, p = c.base + c.used
        c.used += size
        c.live += 1
        #if os(Linux)
        while (c.collapsed + 1) * WeightArena.hugePage <= c.used {
            // MADV_COLLAPSE refuses a range with no page present (EINVAL): touch the new buffer's first
            // byte, which lies in the range just covered (buffers are under 2 MB) and which nobody
            // holds yet, with the zero it must hold.
            p.storeBytes(of: 0, as: UInt8.self)
            if madvise(c.base + c.collapsed * WeightArena.hugePage, WeightArena.hugePage, WeightArena.collapse) == 0 { collapsedPages += 1 }
            c.collapsed += 1
        }
        #endif
        return (p, c)
    }

    func release(_ c: Chunk) {
        lock.lock(); defer { lock.unlock() }
        c.live -= 1
        guard c.live == 0 else { return }
        if c === current {
            _ = madvise(c.base, c.used, MADV_DONTNEED)
            c.used = 0
            c.collapsed = 0
        } else {
            munmap(c.base, chunkBytes)
            chunkCount -= 1
        }
    }

    /// A 2 MB-aligned chunk, so that its 2 MB pages can collapse.
    private func map() -> Chunk? {
        #if os(Linux)
        let hugePage = WeightArena.hugePage
        guard let raw = mmap(nil, chunkBytes + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { return nil }
        let start = (Int(bitPattern: raw) + hugePage - 1) / hugePage * hugePage
        let head = start - Int(bitPattern: raw), tail = hugePage - head
        if head > 0 { munmap(raw, head) }
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + chunkBytes)!, tail) }
        return Chunk(arena: self, base: UnsafeMutableRawPointer(bitPattern: start)!)
        #else
        return nil
        #endif
    }
}
