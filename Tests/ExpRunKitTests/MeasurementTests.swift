// Memory and environment probes on the machine the tests run on.
import Foundation
import Testing
@testable import ExpRunKit

@Suite struct MeasurementTests {
    @Test func statusLinesAreParsedAsBytes() {
        let fields = MemoryProbe.parseStatus("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t    1024 kB\nRssAnon:\t 512 kB\nThreads:\t3\n")
        #expect(fields == ["VmHWM": 2 << 20, "VmRSS": 1 << 20, "RssAnon": 512 << 10])
    }

    @Test func touchingMemoryRaisesResidentAnonymousMemory() throws {
        #if os(Linux)
        // The probe reads the whole process, and other suites allocate and free in it at the same
        // time: a probe that counts anonymous memory sees 64 MiB arrive in at least one of three tries.
        let size = 64 << 20
        var growths: [Int] = []
        for _ in 0..<3 {
            let before = MemoryProbe.sample()
            #expect(before.source == "proc")
            let block = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
            defer { block.deallocate() }
            for i in stride(from: 0, to: size, by: 4096) { block[i] = UInt8(truncatingIfNeeded: i >> 12) }
            let after = MemoryProbe.sample()
            growths.append((after.anon ?? 0) - (before.anon ?? 0))
            #expect((after.peak ?? 0) >= (after.rss ?? .max))
            if growths.last! >= size * 9 / 10 { break }
        }
        #expect(growths.contains { $0 >= size * 9 / 10 }, "anonymous memory grew by \(growths) bytes for \(size) touched")
        #endif
    }

    @Test func environmentNamesTheMachineAndBuild() {
        let env = Environment.capture(version: "9.9", experimentText: "abc")
        #expect(env.experimentSHA256 == SHA256.hex("abc"))
        #expect(env.cores == ProcessInfo.processInfo.activeProcessorCount)
        #expect(env.exprunVersion == "9.9")
        #if os(Linux)
        #expect(env.cpuModel != "unknown")
        #expect(!env.cpuFlags.isEmpty)
        #endif
        if FileManager.default.fileExists(atPath: TestPaths.packageRoot.path + "/.git") {
            #expect(env.gitCommit?.prefix(40).allSatisfy(\.isHexDigit) == true)
        }
    }
}
