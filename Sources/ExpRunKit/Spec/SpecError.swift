// Problems found in an experiment file. Validation collects all of them before it gives up, so a
// person fixes a file in one pass: each names file:line:column, the key path and, where one is
// close, the key or name that was probably meant.
import Foundation

public struct SpecProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// `measure.repeats`, `quantizations[2].method`; empty for the file as a whole.
    public var path: String
    public var message: String

    public var description: String {
        "\(file):\(line):\(column): error: " + (path.isEmpty ? "" : "\(path): ") + message
    }
}

public struct SpecError: Error, CustomStringConvertible, LocalizedError {
    public var problems: [SpecProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
    public var errorDescription: String? { description }
}
