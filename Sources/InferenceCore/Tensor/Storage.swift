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
                return
            }
        }
        #endif
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        mappedLength = 0
    }

    /// Length of the anonymous mapping behind a large owned buffer (0: from the heap).
    private let mappedLength: Int

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
    }

    deinit {
        switch kind {
        case .owned: if mappedLength > 0 { munmap(base, mappedLength) } else { base.deallocate() }
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
