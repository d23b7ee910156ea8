// Commands over quantization formats: quantize (GGUF export).
import ArgumentParser
import Foundation
import InferenceCore

let quantCommands: [ParsableCommand.Type] = [Quantize.self]

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as a GGUF file (llama.cpp's format) with its matrices in a ggml type or K-quant mix.",
        discussion: """
        TYPE is a ggml type (f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q3_k, q4_k, q5_k, iq4_nl, iq4_xs): \
        every matrix in it, as `llama-quantize --pure`; or one of llama.cpp's K-quant mixes (q2_k, \
        q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k): each tensor's type as \
        `llama-quantize` chooses it (--pure: the mix's type throughout). Matrices whose rows do not \
        fit the block fall back as llama-quantize does (q4_k → q5_0, q6_k → q8_0, ..., else f16); \
        the listing says so. A .gguf MODEL of any architecture is re-quantized tensor by tensor.

        TYPE gptq or awq calibrates the model on --calibration text (or --calibration-ids) and writes a \
        Hugging Face directory (config.json with quantization_config, model.safetensors) in GPTQModel's \
        layout (symmetric: checkpoint_format gptq, zeros stored minus one; asymmetric: gptq_v2) or \
        AutoAWQ's GEMM layout, which transformers loads and exprun loads back (--quant as-stored).
        """)

    @Argument(help: "A .gguf file, a Hugging Face GPT-2 or Llama-family directory, or random:gpt2 / random:/path/to/hf-dir (seeded random weights).")
    var model: String
    @Option(help: "The ggml type or K-quant mix: f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m.")
    var to: String
    @Flag(help: "Every matrix in the named type, also for a mix name (llama-quantize --pure).")
    var pure = false
    @Option(help: "The GGUF file to write.")
    var out: String
    @Option(help: "Directory with the model's vocab.json and merges.txt (default: the model directory, else the bundled GPT-2 tokenizer).")
    var tokenizer: String?
    @OptionGroup var calibrated: CalibratedOptions

    func run() throws {
        try reportingErrors {
            if ["gptq", "awq"].contains(to.lowercased()) { return try writeCalibrated() }
            guard let target = GGMLTarget(name: to, pure: pure) else {
                throw CoreError.invalid("--to: unknown type '\(to)' (known: \(GGMLTarget.names.joined(separator: ", ")))")
            }
            let start = Date()
            if model.hasSuffix(".gguf") {
                report(try GGUFRequantize.write(try GGUFFile(path: model), target: target, to: out), start: start)
                return
            }
            var directory = tokenizer
            if directory == nil {
                let base = model.hasPrefix("random:") ? String(model.dropFirst(7)).split(separator: "?").first.map(String.init) ?? "" : model
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: base, isDirectory: &isDir), isDir.boolValue,
                   FileManager.default.fileExists(atPath: base + "/vocab.json") { directory = base }
            }
            let loaded = try ModelLoader.load(model, quantization: .fp32, threads: 1)
            let name = URL(fileURLWithPath: model.hasPrefix("random:") ? model : model).lastPathComponent
            report(try GGUFExport.write(loaded, target: target, tokenizerDirectory: directory, name: name, to: out), start: start)
        }
    }

    func report(_ written: [GGUFExport.Written], start: Date) {
        var total = 0
        for t in written {
            total += t.bytes
            let shape = t.shape.map(String.init).joined(separator: "×")
            print("\(t.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(shape.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.type.padding(toLength: 5, withPad: " ", startingAt: 0)) \(t.bytes)\(t.note.map { "  (\($0))" } ?? "")")
        }
        let fallbacks = written.filter { $0.note != nil }.count
        print("wrote \(out): \(written.count) tensors, \(total) bytes of tensor data, \(fallbacks) fallback(s), \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}
/// `exprun quantize --to gptq|awq`'s parameters.
struct CalibratedOptions: ParsableArguments {
    @Option(help: "gptq/awq: bits per weight (gptq: 2, 3, 4, 8; awq: 4).")
    var bits = 4
    @Option(help: "gptq/awq: inputs sharing a scale and zero point (-1: one group per row, gptq only).")
    var groupSize = 128
    @Flag(help: "gptq: act-order (columns by decreasing Hessian diagonal, g_idx stored).")
    var descAct = false
    @Flag(inversion: .prefixedNo, help: "gptq: symmetric codes (zero point 2^(bits-1)); --no-sym for asymmetric.")
    var sym = true
    @Option(help: "gptq/awq: calibration text, a name (wikitext-2-raw:train) or a file.")
    var calibration = "wikitext-2-raw:train"
    @Option(help: "gptq/awq: calibration windows.")
    var samples = 128
    @Option(help: "gptq/awq: tokens per window.")
    var tokens = 512
    @Option(help: "gptq/awq: seed of the windows' positions (Python's random, as the GPTQ reference draws them).")
    var seed = 0
    @Option(help: "gptq/awq: a safetensors file of token ids [samples, tokens] to calibrate on instead of a text.")
    var calibrationIds: String?
    @Option(help: "Threads for the calibration pass.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
}

extension Quantize {
    func writeCalibrated() throws {
        let method = to.lowercased(), c = calibrated
        var parameters: [String: Double] = ["bits": Double(c.bits), "group_size": Double(c.groupSize)]
        if method == "gptq" { parameters["desc_act"] = c.descAct ? 1 : 0; parameters["sym"] = c.sym ? 1 : 0 }
        let set = c.calibrationIds.map { CalibrationConfig(ids: $0) }
            ?? CalibrationConfig(text: c.calibration, samples: c.samples, tokens: c.tokens, seed: c.seed)
        let config = QuantizationConfig(method: method, parameters: parameters, calibration: set)
        var report: CalibrationReport?
        let loaded = try ModelLoader.load(model, quantization: config, threads: c.threads, calibrated: { report = $0 })
        let packed = QuantizedCheckpointConfig(method: method == "gptq" ? .gptq : .awq, bits: c.bits, groupSize: c.groupSize,
                                               descAct: method == "gptq" && c.descAct, symmetric: method == "gptq" && c.sym,
                                               v2: method == "gptq" && !c.sym)
        var source: String?
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue {
            source = try? String(contentsOfFile: model + "/config.json", encoding: .utf8)
            // A quantized source's config already has a quantization_config: the new one is written
            // into a config made from the model's hyper-parameters instead of beside it.
            if source?.contains("\"quantization_config\"") == true { source = nil }
        }
        let tokenizerDirectory = tokenizer ?? (isDir.boolValue ? model : nil)
        if let gpt2 = loaded as? GPT2 {
            try GPTQCheckpoint.write(gpt2, config: packed, configText: source, tokenizerDirectory: tokenizerDirectory, to: out)
        } else if let decoder = loaded as? DecoderModel {
            try GPTQCheckpoint.write(decoder, config: packed, configText: source, tokenizerDirectory: tokenizerDirectory, to: out)
        } else {
            throw CoreError.unsupported("writing \(method) checkpoints is implemented for GPT-2 and the Llama family; \(model) is \(loaded.architecture)")
        }
        if let r = report {
            print("calibrated \(r.layers.count) layers on \(r.samples) × \(r.tokens) tokens in \(String(format: "%.1f", r.seconds)) s")
        }
        print("wrote \(out): config.json\(packed.method == .gptq ? ", quantize_config.json" : ""), model.safetensors (\(method), \(c.bits)-bit, group \(c.groupSize))")
    }
}
