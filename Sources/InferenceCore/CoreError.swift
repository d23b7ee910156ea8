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

extension String.StringInterpolation {
    /// `'text'` from a file or a user, made safe to print in an error: control, format and other
    /// invisible characters are escaped (`\x00`, `\n`, `\u{202E}`), a quote or backslash is
    /// escaped, and text longer than `limit` characters is cut with `…` and its length in bytes.
    /// A corrupted file's bytes then cannot garble the terminal or flood it.
    public mutating func appendInterpolation(quoted text: String, limit: Int = 60) {
        appendLiteral(CoreError.quote(text, limit: limit))
    }
}

extension CoreError {
    /// See `appendInterpolation(quoted:limit:)`.
    public static func quote(_ text: String, limit: Int = 60) -> String {
        var out = "'", shown = 0, cut = false
        for u in text.unicodeScalars {
            guard shown < limit else { cut = true; break }
            switch u {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x80:
                out += u.value < 0x20 || u.value == 0x7F ? String(format: "\\x%02x", u.value) : String(u)
            case _ where isPrintable(u): out.unicodeScalars.append(u)
            default: out += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
            }
            shown += 1
        }
        return out + (cut ? "…' (\(text.utf8.count) bytes)" : "'")
    }

    /// Letters, marks, digits, punctuation, symbols and the plain space; not controls, format
    /// characters (bidirectional overrides), separators, private-use, unassigned, U+FFFD.
    private static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return u != "\u{FFFD}"
        }
    }
}
