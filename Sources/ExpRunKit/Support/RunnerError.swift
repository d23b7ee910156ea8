// One error type for the runner, each case one line that says what is wrong, where, and the fix,
// so the command line prints it as is. Spec problems have their own type (SpecError) because a
// file can have many at once.
import Foundation

public enum RunnerError: Error, CustomStringConvertible, LocalizedError {
    case file(String, String)
    case invalid(String)
    case model(String, String)
    case network(String)
    case database(String, String)

    public var description: String {
        switch self {
        case let .file(path, why): "\(path): \(why)"
        case let .invalid(why): why
        case let .model(reference, why): "model '\(reference)': \(why)"
        case let .network(why): why
        case let .database(path, why): "\(path): \(why)"
        }
    }
    public var errorDescription: String? { description }
}
