// Resident memory of this process. On Linux /proc/self/status gives current RSS (VmRSS), its
// high-water mark (VmHWM) and the split into anonymous and file-backed pages (RssAnon, RssFile);
// elsewhere getrusage gives only the peak. Values in bytes.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct MemorySample: Sendable, Equatable {
    public var source: String
    public var rss: Int?
    public var peak: Int?
    public var anon: Int?
    public var file: Int?
}

public enum MemoryProbe {
    public static func sample() -> MemorySample {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            let fields = parseStatus(status)
            if fields["VmRSS"] != nil {
                return MemorySample(source: "proc", rss: fields["VmRSS"], peak: fields["VmHWM"],
                                    anon: fields["RssAnon"], file: (fields["RssFile"] ?? 0) + (fields["RssShmem"] ?? 0))
            }
        }
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peak = Int(usage.ru_maxrss) * 1024      // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        let peak = Int(usage.ru_maxrss)             // bytes on macOS
        #endif
        return MemorySample(source: "getrusage", rss: nil, peak: peak, anon: nil, file: nil)
    }

    /// `VmRSS:	  123456 kB` lines → bytes by name.
    static func parseStatus(_ text: String) -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard value.count == 2, value[1] == "kB", let kb = Int(value[0]) else { continue }
            result[String(parts[0])] = kb * 1024
        }
        return result
    }

    /// Gives freed heap back to the system, so "RSS after unload" shows what is really still held
    /// rather than what glibc keeps cached for reuse.
    public static func releaseFreedMemory() {
        #if canImport(Glibc)
        // malloc.h is not in the Glibc module map; find the symbol in the running process.
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        }
        #endif
    }
}
