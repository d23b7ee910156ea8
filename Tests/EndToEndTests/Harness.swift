// Running the real `exprun` binary from tests: where it is (next to the test bundle, or
// $EXPRUN_BIN), running it with a timeout, and the fixture paths.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

enum Exprun {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sharedData = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
    static let tinyModel = sharedData.appendingPathComponent("gpt2-tiny-random").path

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["EXPRUN_BIN"], !path.isEmpty { return path }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: me).deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("exprun").path
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Starts exprun with its output discarded (a process whose pipe nobody reads would block, or
    /// die of SIGPIPE once the pipe is gone).
    static func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.currentDirectoryURL = packageRoot
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func start(_ arguments: [String], environment: [String: String]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.currentDirectoryURL = packageRoot
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 600) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw NSError(domain: "exprun", code: 1, userInfo: [NSLocalizedDescriptionKey: "no exprun binary at \(binary): build it (swift build) or set EXPRUN_BIN"])
        }
        let (p, out, err) = try start(arguments, environment: environment as [String: String])
        final class Box: @unchecked Sendable { var data = Data() }
        let stdout = Box(), stderr = Box()
        let group = DispatchGroup()
        group.enter(); Thread.detachNewThread { stdout.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); Thread.detachNewThread { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        group.wait()
        return Result(status: p.terminationStatus, stdout: String(decoding: stdout.data, as: UTF8.self), stderr: String(decoding: stderr.data, as: UTF8.self))
    }

    /// Every folder the tests make lies in one folder of this test process, removed when the
    /// process exits (whole runs used to leave their folders behind: 26 GB on this project's machine). Every test
    /// target names the same folder, so whichever exits it first removes it.
    static let root: String = {
        let dir = NSTemporaryDirectory() + "exprun-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "exprun-tests-\(getpid())") }
        return dir
    }()

    static func temporaryDirectory(_ name: String = #function) -> String {
        let dir = root + "/e2e-" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, to dir: String, name: String = "test.exp") -> String {
        let path = dir + "/" + name
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Parses SVG / XML; nil when it is not well-formed.
final class XMLDocumentCheck: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var text = ""
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append(name)
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    static func parse(file: String) -> XMLDocumentCheck? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let check = XMLDocumentCheck()
        let parser = XMLParser(data: data)
        parser.delegate = check
        return parser.parse() ? check : nil
    }
}

/// Markdown table rows of a report section: the cells of each `| ... |` line after the header.
func markdownTable(_ markdown: String, after heading: String) -> [[String]] {
    guard let start = markdown.range(of: heading) else { return [] }
    var rows: [[String]] = []
    var inTable = false
    for line in markdown[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("|") {
            inTable = true
            let cells = line.dropFirst().dropLast().split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            rows.append(cells)
        } else if inTable { break }
    }
    return Array(rows.dropFirst(2))   // header and alignment rows
}

/// `12.3 (11.0–14.1)` → (12.3, 11.0, 14.1); a bare number gives (n, n, n).
func medianAndRange(_ cell: String) -> (Double, Double, Double)? {
    let parts = cell.replacingOccurrences(of: "(", with: " ").replacingOccurrences(of: ")", with: " ")
        .replacingOccurrences(of: "–", with: " ").split(separator: " ").compactMap { Double($0) }
    if parts.count == 3 { return (parts[0], parts[1], parts[2]) }
    if parts.count == 1 { return (parts[0], parts[0], parts[0]) }
    return nil
}
