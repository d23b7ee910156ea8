// Hugging Face `config.json`: the hyperparameters of a model directory. Kept as a JSON tree with
// typed accessors so that a wrong type is an error naming the file and the field
// (`config.json: n_embd must be an integer, found "64"`) instead of a silent default. `null`
// counts as absent (transformers writes `"n_inner": null` for "use the default").
import Foundation

public struct HFConfig: Sendable {
    /// Where the values came from, for error messages (a path, or `random:gpt2?...`).
    public let source: String
    public var values: [String: ParsedJSON]

    public init(values: [String: ParsedJSON], source: String) {
        self.values = values; self.source = source
    }

    /// Reads `path` (a config.json file).
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CoreError.file(path, "no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw CoreError.file(path, "cannot read") }
        guard case let .object(o) = try ParsedJSON.parse(data, source: path) else {
            throw CoreError.file(path, "expected a JSON object of hyperparameters")
        }
        self.init(values: o, source: path)
    }

    private func wrong(_ key: String, _ expected: String, _ v: ParsedJSON) -> CoreError {
        var found = v.description
        if found.count > 60 { found = String(found.prefix(57)) + "..." }
        return CoreError.file(source, "\(key) must be \(expected), found \(found)")
    }

    public func has(_ key: String) -> Bool {
        if let v = values[key], v != .null { return true }
        return false
    }

    public func int(_ key: String) throws -> Int? {
        switch values[key] {
        case nil, .null?: return nil
        case let .int(i)?: return i
        case let .double(d)? where d == d.rounded() && abs(d) < 1e15: return Int(d)
        case let v?: throw wrong(key, "an integer", v)
        }
    }

    public func double(_ key: String) throws -> Double? {
        switch values[key] {
        case nil, .null?: return nil
        case let .int(i)?: return Double(i)
        case let .double(d)?: return d
        case let v?: throw wrong(key, "a number", v)
        }
    }

    public func bool(_ key: String) throws -> Bool? {
        switch values[key] {
        case nil, .null?: return nil
        case let .bool(b)?: return b
        case let v?: throw wrong(key, "true or false", v)
        }
    }

    public func string(_ key: String) throws -> String? {
        switch values[key] {
        case nil, .null?: return nil
        case let .string(s)?: return s
        case let v?: throw wrong(key, "a string", v)
        }
    }

    /// A size that must be present (or defaulted), at least `min` and not absurdly large (sizes
    /// are multiplied together before anything is allocated; 2³² keeps the products in range).
    public func int(_ key: String, default def: Int, min: Int = 1, max: Int = 1 << 32) throws -> Int {
        let v = try int(key) ?? def
        guard v >= min else { throw CoreError.file(source, "\(key) must be at least \(min), found \(v)") }
        guard v <= max else { throw CoreError.file(source, "\(key) = \(v) is implausibly large (at most \(max))") }
        return v
    }

    /// A token id that may be given as an integer or a list of integers (the first counts).
    public func tokenID(_ key: String) throws -> Int? {
        if case let .array(a)? = values[key] {
            guard let first = a.first else { return nil }
            guard case let .int(i) = first else { throw wrong(key, "an integer or a list of integers", .array(a)) }
            return i
        }
        return try int(key)
    }
}
