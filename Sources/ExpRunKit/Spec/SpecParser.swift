// Experiment file (YAML) → ExperimentSpec. Parsed with Yams into nodes that keep their positions,
// then walked key by key: unknown keys, wrong types and bad values become SpecProblems with
// file:line:column, and all of them are reported together. Nothing here touches the network, the
// database or a model's bytes: `exprun validate` is this file plus the model-path checks.
import Foundation
import InferenceCore
import Yams

public enum SpecParser {
    static let topKeys = ["name", "description", "model", "weights", "quantizations", "prompts", "generate", "measure", "report"] + encoderTopKeys
    static let generateKeys = ["max_length", "max_new_tokens", "temperature", "top_k", "top_p", "seed", "stop_at_eos"]
    static let measureKeys = ["repeats", "rounds", "warmup", "threads", "perplexity", "baseline", "timeout"] + encoderMeasureKeys
    static let perplexityKeys = ["text", "context", "chunks"]
    static let reportKeys = ["charts", "template"]

    /// Reads and validates the experiment file at `path`; throws `SpecError` listing every problem.
    public static func load(path: String) throws -> ExperimentSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw SpecError(problems: [SpecProblem(file: path, line: 1, column: 1, path: "",
                message: exists ? "cannot be read (check its permissions)" : "no such experiment file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SpecError(problems: [SpecProblem(file: path, line: 1, column: 1, path: "", message: "is not UTF-8 text")])
        }
        return try parse(text: text, path: path)
    }

    public static func parse(text: String, path: String) throws -> ExperimentSpec {
        let c = Checker(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw SpecError(problems: [c.yamlProblem(error)])
        }
        guard let root else {
            throw SpecError(problems: [SpecProblem(file: path, line: 1, column: 1, path: "", message: "the file is empty; an experiment needs at least `model:` and `prompts:`")])
        }
        guard let top = c.mapping(root, path: "", allowed: topKeys) else { throw SpecError(problems: c.problems) }
        let baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().path

        // name
        var name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if let n = top["name"], let s = c.string(n.node, path: "name") {
            if s.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"#, options: .regularExpression) == nil {
                c.problem(n.node, "name", "'\(s)' is not a usable name: use letters, digits, '.', '_' and '-' (it names the report's folder)")
            } else { name = s }
        }
        let description = top["description"].flatMap { c.string($0.node, path: "description") }

        // weights
        var weights = WeightsMode.pretrained
        if let w = top["weights"], let s = c.string(w.node, path: "weights") {
            if let mode = WeightsMode(rawValue: s) { weights = mode } else {
                c.problem(w.node, "weights", "unknown value '\(s)'; use `pretrained` (the model's own weights) or `random` (synthetic weights of its shape)")
            }
        }

        // model
        var models: [String] = []
        if let m = top["model"] {
            let nodes: [(Node, String)] = m.node.isSequence
                ? m.node.array().enumerated().map { ($1, "model[\($0)]") } : [(m.node, "model")]
            if m.node.isSequence && nodes.isEmpty { c.problem(m.node, "model", "the list is empty; name at least one model") }
            for (node, p) in nodes {
                guard let s = c.string(node, path: p) else { continue }
                if s.trimmingCharacters(in: .whitespaces).isEmpty { c.problem(node, p, "is empty; give a Hub id (gpt2), a model directory or a .gguf file"); continue }
                if let problem = ModelReference.check(s, weights: weights, baseDirectory: baseDirectory) {
                    c.problem(node, p, problem)
                }
                models.append(s)
            }
        } else {
            c.problem(root, "model", "missing; give a Hub id (`model: gpt2`), a model directory, a .gguf file or a list of them")
        }

        // quantizations
        var quantizations: [QuantizationConfig] = []
        if let q = top["quantizations"] {
            if let items = c.sequence(q.node, path: "quantizations") {
                if items.isEmpty { c.problem(q.node, "quantizations", "the list is empty; give at least one, e.g. `- fp32`") }
                for (i, item) in items.enumerated() {
                    if let config = c.quantization(item, path: "quantizations[\(i)]") {
                        if quantizations.contains(config) {
                            c.problem(item, "quantizations[\(i)]", "'\(config)' is listed twice")
                        } else { quantizations.append(config) }
                    }
                }
            }
        } else { quantizations = [.fp32] }

        // prompts
        var prompts: [String] = []
        if let p = top["prompts"] {
            let items: [Node]? = p.node.isScalar ? [p.node] : c.sequence(p.node, path: "prompts")
            if let items {
                if items.isEmpty { c.problem(p.node, "prompts", "the list is empty; give at least one prompt, e.g. `- Once upon a time`") }
                for (i, item) in items.enumerated() {
                    let path = p.node.isScalar ? "prompts" : "prompts[\(i)]"
                    guard let s = c.string(item, path: path) else { continue }
                    if s.isEmpty { c.problem(item, path, "is empty; a prompt needs at least one token") } else { prompts.append(s) }
                }
            }
        } else if top["texts"] == nil && top["corpus"] == nil {
            c.problem(root, "prompts", "missing; give the prompts to generate from, e.g. `prompts: [Once upon a time]` (or, for a sentence encoder, `texts:` / `corpus:`)")
        }
        let encoder = Self.encoder(c, top: top, baseDirectory: baseDirectory)
        Self.checkEncoderModels(c, top: top, encoder: encoder, baseDirectory: baseDirectory)

        // generate
        var generate = GenerateSettings()
        if let g = top["generate"], let map = c.mapping(g.node, path: "generate", allowed: generateKeys) {
            if let v = map["max_length"] { generate.maxLength = c.int(v.node, path: "generate.max_length", min: 2) }
            if let v = map["max_new_tokens"] { generate.maxNewTokens = c.int(v.node, path: "generate.max_new_tokens", min: 1) }
            if let a = map["max_length"], map["max_new_tokens"] != nil {
                c.problem(a.key, "generate", "give `max_length` (prompt + new tokens) or `max_new_tokens`, not both")
            }
            if let v = map["temperature"], let t = c.double(v.node, path: "generate.temperature") {
                if t < 0 || !t.isFinite { c.problem(v.node, "generate.temperature", "must be 0 (greedy) or more") } else { generate.temperature = t }
            }
            if let v = map["top_k"], let k = c.int(v.node, path: "generate.top_k", min: 0) { generate.topK = k }
            if let v = map["top_p"], let p = c.double(v.node, path: "generate.top_p") {
                if !(p > 0 && p <= 1) { c.problem(v.node, "generate.top_p", "must be in (0, 1]; 1 turns it off") } else { generate.topP = p }
            }
            if let v = map["seed"], let s = c.int(v.node, path: "generate.seed", min: 0) { generate.seed = UInt64(s) }
            if let v = map["stop_at_eos"], let b = c.bool(v.node, path: "generate.stop_at_eos") { generate.stopAtEOS = b }
        }
        if generate.maxLength == nil && generate.maxNewTokens == nil { generate.maxNewTokens = 20 }

        // measure
        var measure = MeasureSettings()
        var baselineNode: Node?
        if let m = top["measure"], let map = c.mapping(m.node, path: "measure", allowed: measureKeys) {
            if let v = map["repeats"], let n = c.int(v.node, path: "measure.repeats", min: 1, max: 10_000) { measure.repeats = n }
            if let v = map["rounds"], let n = c.int(v.node, path: "measure.rounds", min: 1, max: 1000) {
                if n > measure.repeats {
                    c.problem(v.node, "measure.rounds", "\(n) rounds need at least \(n) repeats (each round runs its share of them, at least one); raise measure.repeats to \(n) or lower rounds")
                } else { measure.rounds = n }
            }
            if let v = map["warmup"], let n = c.int(v.node, path: "measure.warmup", min: 0, max: 10_000) { measure.warmup = n }
            if let v = map["threads"] {
                let threads = c.distinctInts(v.node, path: "measure.threads", max: 1024, what: "thread counts, e.g. `[1, 2]`")
                if !threads.isEmpty { measure.threads = threads }
            }
            if let v = map["timeout"], let t = c.double(v.node, path: "measure.timeout") {
                if !(t > 0 && t <= 604_800) { c.problem(v.node, "measure.timeout", "must be a positive number of seconds, at most a week (604800)") } else { measure.timeoutSeconds = t }
            }
            if let v = map["baseline"], let s = c.string(v.node, path: "measure.baseline") { measure.baseline = s; baselineNode = v.node }
            if let v = map["perplexity"], let pm = c.mapping(v.node, path: "measure.perplexity", allowed: perplexityKeys) {
                let text = pm["text"].flatMap { c.string($0.node, path: "measure.perplexity.text") }
                if pm["text"] == nil { c.problem(v.node, "measure.perplexity.text", "missing; name the text, e.g. `wikitext-2-raw:test`") }
                let context = pm["context"].flatMap { c.int($0.node, path: "measure.perplexity.context", min: 2) } ?? 512
                let chunks = pm["chunks"].flatMap { c.int($0.node, path: "measure.perplexity.chunks", min: 1) }
                if var text, let textNode = pm["text"]?.node {
                    // A plain path is relative to the experiment file; named texts resolve as the core resolves them.
                    if EvaluationText.named[text] == nil && !text.hasPrefix("/") && !text.hasPrefix("wikitext-2-raw:") {
                        text = baseDirectory + "/" + text
                    }
                    do { _ = try EvaluationText.resolve(text) } catch {
                        c.problem(textNode, "measure.perplexity.text", "\(error)")
                    }
                    measure.perplexity = PerplexitySettings(text: text, context: context, chunks: chunks)
                }
            }
        }
        let labels = quantizations.map(\.description)
        if let baseline = measure.baseline {
            if !labels.isEmpty && !labels.contains(baseline) {
                let hint = EditDistance.suggestion(for: baseline, among: labels).map { "did you mean `\($0)`? " } ?? ""
                c.problem(baselineNode ?? root, "measure.baseline", "'\(baseline)' is not one of the quantizations; \(hint)the configurations are: \(labels.joined(separator: ", "))")
            }
        } else {
            measure.baseline = labels.contains("fp32") ? "fp32" : labels.first
        }

        // report
        var report = ReportSettings()
        if let r = top["report"], let map = c.mapping(r.node, path: "report", allowed: reportKeys) {
            if let v = map["charts"], let items = c.sequence(v.node, path: "report.charts") {
                var charts: [String] = []
                for (i, item) in items.enumerated() {
                    guard let s = c.string(item, path: "report.charts[\(i)]") else { continue }
                    if ReportSettings.knownCharts.contains(s) { charts.append(s) } else {
                        let hint = EditDistance.suggestion(for: s, among: ReportSettings.knownCharts).map { "did you mean `\($0)`? " } ?? ""
                        c.problem(item, "report.charts[\(i)]", "unknown chart '\(s)'; \(hint)known charts: \(ReportSettings.knownCharts.joined(separator: ", "))")
                    }
                }
                report.charts = charts
            }
            if let v = map["template"], let s = c.string(v.node, path: "report.template") {
                let full = s.hasPrefix("/") ? s : baseDirectory + "/" + s
                if FileManager.default.fileExists(atPath: full) { report.template = full } else {
                    c.problem(v.node, "report.template", "no such file '\(full)'")
                }
            }
        }

        if !c.problems.isEmpty { throw SpecError(problems: c.problems) }
        var spec = ExperimentSpec(name: name, description: description, models: models, weights: weights,
                                  quantizations: quantizations, prompts: prompts, generate: generate,
                                  measure: measure, report: report, path: path, text: text)
        spec.encoder = encoder
        return spec
    }
}

/// A key of a mapping with its nodes, so problems can point at either.
struct Entry { var key: Node; var node: Node }

/// Walks nodes, converting values and collecting problems instead of stopping at the first.
final class Checker {
    let file: String
    var problems: [SpecProblem] = []
    init(file: String) { self.file = file }

    func problem(_ node: Node, _ path: String, _ message: String) {
        let mark = node.mark
        problems.append(SpecProblem(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, path: path, message: message))
    }

    func yamlProblem(_ error: YamlError) -> SpecProblem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let where_ = context.map { " \($0.text)" } ?? ""
            return SpecProblem(file: file, line: mark.line, column: mark.column, path: "", message: "not valid YAML: \(problem)\(where_)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return SpecProblem(file: file, line: context.mark.line, column: context.mark.column, path: "",
                               message: "key \(duplicates.map { "`\($0)`" }.joined(separator: ", ")) appears twice in one mapping")
        default:
            return SpecProblem(file: file, line: 1, column: 1, path: "", message: "not valid YAML: \(error)")
        }
    }

    /// What a node is, in words, for "expected X, found Y".
    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(s):
            if node.null != nil && s.style == .plain { return "nothing" }
            return "'\(s.string)'"
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The entries of a mapping, with unknown keys reported (and dropped).
    func mapping(_ node: Node, path: String, allowed: [String]?) -> [String: Entry]? {
        guard case let .mapping(m) = node else {
            problem(node, path.isEmpty ? "" : path, "expected a mapping of keys to values, found \(kind(node))")
            return nil
        }
        var result: [String: Entry] = [:]
        for (k, v) in m {
            guard case let .scalar(ks) = k else { problem(k, path, "keys must be plain names"); continue }
            let key = ks.string
            if let allowed, !allowed.contains(key) {
                let hint = EditDistance.suggestion(for: key, among: allowed).map { "did you mean `\($0)`?" }
                    ?? "known keys here: \(allowed.joined(separator: ", "))"
                problem(k, join(path, key), "unknown key `\(key)`; \(hint)")
                continue
            }
            result[key] = Entry(key: k, node: v)
        }
        return result
    }

    func sequence(_ node: Node, path: String) -> [Node]? {
        guard case let .sequence(s) = node else { problem(node, path, "expected a list, found \(kind(node))"); return nil }
        return Array(s)
    }

    func string(_ node: Node, path: String) -> String? {
        guard case let .scalar(s) = node else { problem(node, path, "expected text, found \(kind(node))"); return nil }
        if node.null != nil && s.style == .plain { problem(node, path, "has no value"); return nil }
        return s.string
    }

    func int(_ node: Node, path: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard case let .scalar(s) = node, let v = Int(s.string.trimmingCharacters(in: .whitespaces)) else {
            problem(node, path, "expected a whole number, found \(kind(node))"); return nil
        }
        if let min, v < min { problem(node, path, "must be at least \(min), found \(v)"); return nil }
        if let max, v > max { problem(node, path, "must be at most \(max), found \(v)"); return nil }
        return v
    }

    func double(_ node: Node, path: String) -> Double? {
        guard case let .scalar(s) = node, let v = Double(s.string.trimmingCharacters(in: .whitespaces)) else {
            problem(node, path, "expected a number, found \(kind(node))"); return nil
        }
        return v
    }

    func bool(_ node: Node, path: String) -> Bool? {
        guard case .scalar = node, let v = node.bool else { problem(node, path, "expected true or false, found \(kind(node))"); return nil }
        return v
    }

    /// `q4_k` or `{method: bnb-int8, threshold: 0, skip: [lm_head]}`, checked against the core's catalogue.
    func quantization(_ node: Node, path: String) -> QuantizationConfig? {
        var methodNode = node
        var methodName: String?
        var map: [String: Entry]?
        if case .mapping = node {
            map = mapping(node, path: path, allowed: nil)
            guard let map else { return nil }
            guard let m = map["method"] else {
                problem(node, path + ".method", "missing; name the method, e.g. `{method: bnb-int8, threshold: 6}`"); return nil
            }
            methodNode = m.node
            methodName = string(m.node, path: path + ".method")
        } else {
            methodName = string(node, path: path)
        }
        guard let name = methodName else { return nil }
        guard let method = Quantization.method(named: name) else {
            let names = Quantization.methods.map(\.name)
            let hint = EditDistance.suggestion(for: name, among: names).map { "did you mean `\($0)`? " } ?? ""
            problem(methodNode, map == nil ? path : path + ".method",
                    "unknown quantization method '\(name)'; \(hint)known methods: \(names.joined(separator: ", ")) (available now: \(Quantization.availableNames.joined(separator: ", ")))")
            return nil
        }
        guard method.available else {
            problem(methodNode, map == nil ? path : path + ".method",
                    "'\(name)' (\(method.summary)) is not available yet in this exprun; available now: \(Quantization.availableNames.joined(separator: ", "))")
            return nil
        }
        var config = QuantizationConfig(method: name)
        guard let map else { return config }
        var ok = true
        for (key, entry) in map.sorted(by: { $0.key < $1.key }) where key != "method" {
            let p = path + "." + key
            if key == "skip" {
                let items = entry.node.isSequence ? entry.node.array() : [entry.node]
                var skip: [String] = []
                for item in items { if let s = string(item, path: p) { skip.append(s) } else { ok = false } }
                config.skip = skip
                continue
            }
            if key == "calibration" {
                guard method.calibrated else {
                    problem(entry.key, p, "\(name) does not calibrate; `calibration` applies to \(Quantization.methods.filter(\.calibrated).map(\.name).joined(separator: " and "))")
                    ok = false
                    continue
                }
                if let c = calibration(entry.node, path: p) { config.calibration = c } else { ok = false }
                continue
            }
            guard method.parameters[key] != nil else {
                let known = method.parameters.keys.sorted() + (method.calibrated ? ["calibration"] : [])
                let hint = EditDistance.suggestion(for: key, among: known + ["skip"]).map { "did you mean `\($0)`? " } ?? ""
                problem(entry.key, p, "unknown parameter `\(key)` for \(name); \(hint)" +
                        (known.isEmpty ? "\(name) takes no parameters (only `skip`)" : "its parameters: " + known.map { "\($0) (\(method.parameters[$0] ?? ""))" }.joined(separator: ", ")))
                ok = false
                continue
            }
            if case .scalar = entry.node, let b = entry.node.bool, entry.node.int == nil {
                config.parameters[key] = b ? 1 : 0
            } else if let v = double(entry.node, path: p) {
                config.parameters[key] = v
            } else { ok = false }
        }
        return ok ? config : nil
    }

    /// `{text: wikitext-2-raw:train, samples: 128, tokens: 512, seed: 0}` or `{ids: FILE.safetensors}`.
    func calibration(_ node: Node, path: String) -> CalibrationConfig? {
        guard let map = mapping(node, path: path, allowed: ["text", "samples", "tokens", "seed", "ids"]) else { return nil }
        let d = Calibration.defaultCalibration
        var c = CalibrationConfig(text: nil, samples: d.samples, tokens: d.tokens, seed: d.seed)
        var ok = true
        if let e = map["ids"] {
            if let v = string(e.node, path: join(path, "ids")) { c.ids = v } else { ok = false }
            for key in ["text", "samples", "tokens", "seed"] where map[key] != nil {
                problem(map[key]!.key, join(path, key), "`ids` gives the token windows themselves; drop `\(key)` (or drop `ids` to draw windows from a text)")
                ok = false
            }
            return ok ? c : nil
        }
        guard let t = map["text"] else {
            problem(node, join(path, "text"), "missing; name a text (e.g. `text: wikitext-2-raw:train`) or give `ids: FILE.safetensors`")
            return nil
        }
        if let v = string(t.node, path: join(path, "text")) {
            if v.hasPrefix("wikitext-2-raw:"), EvaluationText.named[v] == nil {
                problem(t.node, join(path, "text"), "unknown text '\(v)' (known: \(EvaluationText.named.keys.sorted().joined(separator: ", ")))")
                ok = false
            }
            c.text = v
        } else { ok = false }
        if let e = map["samples"] { if let v = int(e.node, path: join(path, "samples"), min: 1) { c.samples = v } else { ok = false } }
        if let e = map["tokens"] { if let v = int(e.node, path: join(path, "tokens"), min: 1) { c.tokens = v } else { ok = false } }
        if let e = map["seed"] { if let v = int(e.node, path: join(path, "seed"), min: 0) { c.seed = v } else { ok = false } }
        return ok ? c : nil
    }
}

extension Node {
    var isSequence: Bool { if case .sequence = self { return true } else { return false } }
    var isScalar: Bool { if case .scalar = self { return true } else { return false } }
}
