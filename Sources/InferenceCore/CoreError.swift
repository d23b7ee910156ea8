// One error type for the core, each case rendering as one line that names what is wrong and where,
// so the command line can print it as is.
import Foundation

public enum CoreError: Error, CustomStringConvertible, LocalizedError {
    /// Something wrong with a file: its path and what is wrong (and, where known, the fix).
    case file(String, String)
    /// A bad argument or value.
    case invalid(String)
    /// A feature that is known but not (yet) available.
    case unsupported(String)

    public var description: String {
        switch self {
        case let .file(path, why): "\(path): \(why)"
        case let .invalid(why): why
        case let .unsupported(why): "unsupported: \(why)"
        }
    }
    public var errorDescription: String? { description }
}
