// A JSON document as a plain tree, for the small JSON files of checkpoints (config.json, the
// safetensors header, model.safetensors.index.json). Keeping the tree (instead of decoding into
// structs) lets every reader say exactly which field has which wrong type: `n_embd must be an
// integer, found "64"`. Booleans, integers and other numbers stay distinct.
import Foundation

public enum ParsedJSON: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ParsedJSON])
    case object([String: ParsedJSON])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([ParsedJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: ParsedJSON].self)) }
    }

    /// Parses `data`; a syntax error becomes one line naming `source`.
    public static func parse(_ data: Data, source: String) throws -> ParsedJSON {
        do {
            return try JSONDecoder().decode(ParsedJSON.self, from: data)
        } catch let DecodingError.dataCorrupted(ctx) {
            let why = (ctx.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? ctx.debugDescription
            throw CoreError.file(source, "not valid JSON: \(why)")
        } catch {
            throw CoreError.file(source, "not valid JSON: \(error)")
        }
    }

    /// Compact JSON text, for error messages ("found \"64\"").
    public var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .string(s): return ParsedJSON.quote(s)
        case let .array(a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case let .object(o): return "{" + o.keys.sorted().map { ParsedJSON.quote($0) + ":" + o[$0]!.description }.joined(separator: ",") + "}"
        }
    }

    /// What kind of value this is, in words ("a string", "an array").
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
