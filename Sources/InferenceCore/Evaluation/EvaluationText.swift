// Evaluation texts by name or path. `wikitext-2-raw:test` (or `:valid`) names WikiText-2 raw's
// split files (`wikitext-2-raw/wiki.test.raw`), looked up in `EXPRUN_DATA_DIR`, then in
// `../shared/data` from the current directory (where the checkouts of this project keep the test
// data); anything else is a file path.
import Foundation

public enum EvaluationText {
    public static let named: [String: String] = [
        "wikitext-2-raw:test": "wikitext-2-raw/wiki.test.raw",
        "wikitext-2-raw:valid": "wikitext-2-raw/wiki.valid.raw",
        // A slice of the train split: GPTQ's and AWQ's calibration text.
        "wikitext-2-raw:train": "calibration/wiki.train.slice.raw",
    ]

    /// The file a name or path stands for.
    public static func resolve(_ nameOrPath: String) throws -> String {
        guard let relative = named[nameOrPath] else {
            if nameOrPath.hasPrefix("wikitext-2-raw:") {
                throw CoreError.invalid("unknown text '\(nameOrPath)' (known: \(named.keys.sorted().joined(separator: ", ")))")
            }
            guard FileManager.default.isReadableFile(atPath: nameOrPath) else {
                throw CoreError.file(nameOrPath, "no such readable file (give a text file or one of \(named.keys.sorted().joined(separator: ", ")))")
            }
            return nameOrPath
        }
        var tried: [String] = []
        if let dir = ProcessInfo.processInfo.environment["EXPRUN_DATA_DIR"], !dir.isEmpty {
            tried.append(URL(fileURLWithPath: dir).appendingPathComponent(relative).path)
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        tried.append(cwd.appendingPathComponent("../shared/data").appendingPathComponent(relative).standardizedFileURL.path)
        if let found = tried.first(where: { FileManager.default.isReadableFile(atPath: $0) }) { return found }
        throw CoreError.invalid("text '\(nameOrPath)' not found (looked for \(tried.joined(separator: " and "))); set EXPRUN_DATA_DIR to the folder holding \(relative)")
    }

    /// The text itself (UTF-8; invalid bytes are an error naming the file).
    public static func load(_ nameOrPath: String) throws -> String {
        let path = try resolve(nameOrPath)
        guard let data = FileManager.default.contents(atPath: path) else { throw CoreError.file(path, "cannot read") }
        guard let text = String(data: data, encoding: .utf8) else { throw CoreError.file(path, "is not valid UTF-8 text") }
        return text
    }
}
