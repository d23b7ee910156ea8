// Paths the tests need: the package root (from this file's path) and ../shared/data beside it,
// and fresh temporary folders.
import Foundation

enum TestPaths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sharedData = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
    static let tinyModel = sharedData.appendingPathComponent("gpt2-tiny-random").path

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
        let dir = root + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `text` to `<dir>/<name>` and returns the path.
    static func write(_ text: String, to dir: String, name: String = "test.exp") -> String {
        let path = dir + "/" + name
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
