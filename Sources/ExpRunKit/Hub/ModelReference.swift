// What a `model:` value names, and how it becomes a reference ModelLoader understands. Local
// paths are relative to the experiment file; anything shaped like `name` or `org/name` that is
// not a local path is a Hugging Face Hub id, resolved through the HF cache (HubClient). The core's
// own `random:` references pass through untouched.
import Foundation

public enum ModelReference {
    public enum Kind: Equatable, Sendable {
        case core(String)              // random:gpt2?n_layer=2 ...
        case local(String)             // absolute path of a directory or .gguf file
        case hub(String)               // repo id
        case invalid(String)           // why
    }

    static let hubPattern = #"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$"#

    public static func classify(_ written: String, baseDirectory: String) -> Kind {
        if written.hasPrefix("random:") { return .core(written) }
        let expanded = (written as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : baseDirectory + "/" + expanded
        let standardized = URL(fileURLWithPath: absolute).standardizedFileURL.path
        let pathLike = written.hasPrefix("/") || written.hasPrefix("./") || written.hasPrefix("../")
            || written.hasPrefix("~") || written.hasSuffix(".gguf")
        if FileManager.default.fileExists(atPath: standardized) { return .local(standardized) }
        if pathLike { return .invalid("no such file or directory '\(standardized)' (relative paths are relative to the experiment file)") }
        if written.range(of: hubPattern, options: .regularExpression) != nil, !written.contains("..") { return .hub(written) }
        return .invalid("'\(written)' is neither an existing path nor a Hugging Face Hub id (`gpt2`, `openai-community/gpt2`)")
    }

    /// A problem with the reference that validation can see without a network, or nil.
    static func check(_ written: String, weights: WeightsMode, baseDirectory: String) -> String? {
        switch classify(written, baseDirectory: baseDirectory) {
        case let .invalid(why): return why
        case .core, .hub: return nil
        case let .local(path):
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                if !FileManager.default.fileExists(atPath: path + "/config.json") {
                    return "'\(path)' has no config.json; a Hugging Face model directory holds config.json and *.safetensors"
                }
                return nil
            }
            if path.hasSuffix(".gguf") {
                return weights == .random ? "`weights: random` needs a model directory or Hub id (a config.json); a .gguf file carries its weights" : nil
            }
            return "'\(path)' is neither a model directory nor a .gguf file"
        }
    }

    /// The reference the child passes to `ModelLoader.load`, downloading from the Hub if needed.
    public static func resolve(_ written: String, weights: WeightsMode, baseDirectory: String, hub: HubClient) throws -> String {
        switch classify(written, baseDirectory: baseDirectory) {
        case let .core(reference): return reference
        case let .invalid(why): throw RunnerError.model(written, why)
        case let .local(path): return weights == .random ? "random:" + path : path
        case let .hub(repo):
            if weights == .random {
                // GPT-2's shape is built into the core, so the classic experiment runs offline.
                if let dir = hub.cachedSnapshot(repo: repo, needWeights: false) { return "random:" + dir }
                if repo == "gpt2" || repo == "openai-community/gpt2" { return "random:gpt2" }
                return "random:" + (try hub.snapshot(repo: repo, needWeights: false))
            }
            return try hub.snapshot(repo: repo, needWeights: true)
        }
    }
}
