// Runs one plan entry in a fresh `exprun run-one` process: the entry goes in as JSON on stdin, one
// JSON record comes back on stdout. A fresh process per run is what makes peak RSS and "RSS after
// unload" honest, keeps a crash or out-of-memory in one configuration from losing the others, and
// makes a timeout possible (the child is killed with SIGKILL when it expires).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ChildProcess {
    public struct Outcome: Sendable {
        public var exitStatus: Int32
        public var signalled: Bool
        public var timedOut: Bool
        public var stdout: Data
        /// Last lines of stderr (progress lines excluded).
        public var stderrTail: String
    }

    /// The path of the running executable, so the parent can start itself.
    public static func currentExecutable() -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// Lines the child writes on stderr that start with this are progress, not diagnostics.
    public static let progressPrefix = "@progress "

    public static func run(executable: String, arguments: [String], input: Data, timeout: Double,
                           onProgress: @escaping @Sendable (String) -> Void) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()

        let collected = Collector()
        let readers = DispatchGroup()
        readers.enter()
        Thread.detachNewThread {
            let data = stdout.fileHandleForReading.readDataToEndOfFile()
            collected.setStdout(data)
            readers.leave()
        }
        readers.enter()
        Thread.detachNewThread {
            var pending = Data()
            let handle = stderr.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending = Data(pending[(newline + 1)...])
                    if line.hasPrefix(progressPrefix) { onProgress(String(line.dropFirst(progressPrefix.count))) } else { collected.addStderr(line) }
                }
            }
            if !pending.isEmpty { collected.addStderr(String(decoding: pending, as: UTF8.self)) }
            readers.leave()
        }
        // A child that died early closes its stdin; writing must not kill the parent with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()

        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        readers.wait()
        return Outcome(exitStatus: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                       timedOut: timedOut, stdout: collected.stdout, stderrTail: collected.tail())
    }

    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        private(set) var stdout = Data()
        func setStdout(_ d: Data) { lock.lock(); stdout = d; lock.unlock() }
        func addStderr(_ line: String) {
            lock.lock(); lines.append(line); if lines.count > 40 { lines.removeFirst(lines.count - 40) }; lock.unlock()
        }
        func tail() -> String {
            lock.lock(); defer { lock.unlock() }
            let text = lines.joined(separator: "\n")
            return text.count > 4000 ? String(text.suffix(4000)) : text
        }
    }
}
