// Runs one plan entry in a fresh `exprun run-one` process: the entry goes in as JSON on stdin, one
// JSON record comes back on stdout. A fresh process per run is what makes peak RSS and "RSS after
// unload" honest, keeps a crash or out-of-memory in one configuration from losing the others, and
// makes a timeout possible (the child is killed with SIGKILL when it expires). An interrupt stops
// the child too (Interruption.swift).
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
        /// The Swift runtime's `Fatal error: ...` line, if the child stopped on one (a long backtrace
        /// can push it out of the tail).
        public var fatalError: String?
        /// Whether the kernel's out-of-memory killer killed a process of this cgroup meanwhile.
        public var oomKilled = false

        /// Why a child that left no record failed, in one line; "out of memory" when it ran out.
        public func failure() -> String {
            let fatal = fatalError.map { String($0.dropFirst("Fatal error: ".count)) }
            if let fatal, fatal.contains("failed to allocate") || fatal.contains("Could not allocate") {
                var limit = rlimit()
                #if canImport(Glibc)
                let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
                #else
                let resource = RLIMIT_AS
                #endif
                let capped = getrlimit(resource, &limit) == 0 && limit.rlim_cur != rlim_t.max   // RLIM_INFINITY
                return "out of memory: \(fatal)" + (capped ? " (address-space limit \(limit.rlim_cur >> 20) MiB)" : "")
            }
            if signalled && exitStatus == SIGKILL {
                return oomKilled ? "out of memory: the kernel's out-of-memory killer ended the child process (SIGKILL)"
                                 : "the child process was killed by SIGKILL (out of memory, or killed by hand?)"
            }
            let how = signalled ? "was killed by signal \(exitStatus)" : "exited with status \(exitStatus) without a record"
            return "the child process \(how)" + (fatal.map { ": \($0)" } ?? "")
        }
    }

    /// The kernel's count of processes its out-of-memory killer ended in this cgroup (v2, else v1).
    static func oomKills() -> Int? {
        for file in ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
                return Int(line.split(separator: " ").last ?? "")
            }
        }
        return nil
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
        let oomKillsBefore = oomKills()
        try process.run()
        Interruption.childStarted(process.processIdentifier)
        defer { Interruption.childEnded() }

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

        // Waits in slices so that an interrupt (which sends the child SIGTERM) can be followed by
        // SIGKILL once the grace period is over.
        var timedOut = false, stopAsked: Date?
        let deadline = Date().addingTimeInterval(timeout)
        while finished.wait(timeout: .now() + 0.2) == .timedOut {
            if Interruption.signal != nil {
                let asked = stopAsked ?? Date()
                stopAsked = asked
                if Date().timeIntervalSince(asked) > Interruption.grace { kill(process.processIdentifier, SIGKILL) }
            } else if Date() >= deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
                break
            }
        }
        readers.wait()
        let signalled = process.terminationReason == .uncaughtSignal
        // A child ended by SIGINT or SIGTERM that this process did not send was stopped from
        // outside (Ctrl-C reaches the whole process group): the experiment stops too.
        if signalled, process.terminationStatus == SIGINT || process.terminationStatus == SIGTERM {
            Interruption.request(process.terminationStatus)
        }
        return Outcome(exitStatus: process.terminationStatus, signalled: signalled, timedOut: timedOut, stdout: collected.stdout,
                       stderrTail: collected.tail(), fatalError: collected.fatal,
                       oomKilled: (oomKills() ?? 0) > (oomKillsBefore ?? Int.max))
    }

    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        private(set) var stdout = Data()
        private(set) var fatal: String?
        func setStdout(_ d: Data) { lock.lock(); stdout = d; lock.unlock() }
        func addStderr(_ line: String) {
            lock.lock(); lines.append(line); if lines.count > 40 { lines.removeFirst(lines.count - 40) }
            if fatal == nil, line.hasPrefix("Fatal error: ") { fatal = String(line.prefix(300)) }
            lock.unlock()
        }
        func tail() -> String {
            lock.lock(); defer { lock.unlock() }
            let text = lines.joined(separator: "\n")
            return text.count > 4000 ? String(text.suffix(4000)) : text
        }
    }
}
