// The entry point of calibrated quantization: an experiment's `{method: gptq | awq, ...,
// calibration: {...}}` applied to a loaded FP32 model (a GGUF's dequantized weights count as its
// FP32 source, as for every other method). Parameters are checked here, with the layer that fails
// named in errors; the calibration pass runs the architecture's blocks (CalibrationPass.swift).
import Foundation

public enum Calibration {
    public static let gptqParameters = [
        "bits": "bits per weight: 2, 3, 4 or 8 (default 4)",
        "group_size": "inputs sharing a scale and zero point, -1 for one group per row (default 128)",
        "desc_act": "1 quantizes columns in order of decreasing Hessian diagonal (act-order; default 0)",
        "sym": "1 symmetric (zero point 2^(bits-1)), 0 asymmetric (default 1)",
        "static_groups": "1 fixes group parameters before act-order (default 0)",
        "damp_percent": "dampening, a fraction of the mean Hessian diagonal (default 0.01)",
        "true_sequential": "1 quantizes a block's layers group by group on inputs through the quantized ones (default 1)",
    ]
    public static let awqParameters = [
        "bits": "bits per weight: 4 (AWQ GEMM)",
        "group_size": "inputs sharing a scale and zero point; must divide every layer's inputs (default 128)",
        "duo_scaling": "1 scales by activation and weight magnitude, 0 by activation only (default 1)",
    ]
    public static let rtnParameters = [
        "bits": "bits per weight: 2, 3, 4 or 8 (default 4)",
        "group_size": "inputs sharing a scale and zero point, -1 for one group per row (default 128)",
        "sym": "1 symmetric, 0 asymmetric (default 1)",
    ]

    /// The calibration used when a configuration names none: GPTQ's and AutoAWQ's usual 128 × 512
    /// tokens of WikiText-2 train.
    public static let defaultCalibration = CalibrationConfig(text: "wikitext-2-raw:train", samples: 128, tokens: 512, seed: 0)

    static func flag(_ c: QuantizationConfig, _ key: String, default d: Bool) throws -> Bool {
        guard let v = c.parameters[key] else { return d }
        guard v == 0 || v == 1 else { throw CoreError.invalid("\(c.method): \(key) must be 0 or 1 (false or true), got \(QuantizationConfig.format(v))") }
        return v == 1
    }

    static func integer(_ c: QuantizationConfig, _ key: String, default d: Int) throws -> Int {
        guard let v = c.parameters[key] else { return d }
        guard let i = Int(exactly: v) else { throw CoreError.invalid("\(c.method): \(key) must be a whole number, got \(QuantizationConfig.format(v))") }
        return i
    }

    /// GPTQ's / round-to-nearest's parameters from a configuration.
    static func gptqConfiguration(_ c: QuantizationConfig, known: Set<String>) throws -> GPTQConfiguration {
        try c.checkParameters(known: known)
        var g = GPTQConfiguration(bits: try integer(c, "bits", default: 4), groupSize: try integer(c, "group_size", default: 128),
                                  symmetric: try flag(c, "sym", default: true), actOrder: try flag(c, "desc_act", default: false),
                                  staticGroups: try flag(c, "static_groups", default: false), dampPercent: c.parameters["damp_percent"] ?? 0.01)
        guard GPTQConfiguration.supportedBits.contains(g.bits) else {
            throw CoreError.invalid("\(c.method): bits must be one of 2, 3, 4, 8, got \(g.bits)")
        }
        guard g.groupSize == -1 || g.groupSize > 0 else { throw CoreError.invalid("\(c.method): group_size must be -1 or positive, got \(g.groupSize)") }
        guard g.dampPercent > 0, g.dampPercent < 1 else { throw CoreError.invalid("\(c.method): damp_percent must lie in (0, 1), got \(g.dampPercent)") }
        if g.groupSize == -1 { g.staticGroups = false }
        return g
    }

    /// AWQ's group size and duo-scaling switch.
    static func awqConfiguration(_ config: QuantizationConfig) throws -> (groupSize: Int, duoScaling: Bool) {
        try config.checkParameters(known: Set(awqParameters.keys))
        let bits = try integer(config, "bits", default: 4)
        guard bits == 4 else { throw CoreError.invalid("awq: bits must be 4 (AWQ's GEMM layout holds 4-bit codes), got \(bits)") }
        let gs = try integer(config, "group_size", default: 128)
        guard gs > 0 else { throw CoreError.invalid("awq: group_size must be positive, got \(gs)") }
        return (gs, try flag(config, "duo_scaling", default: true))
    }

    /// Quantizes `model`'s block layers per `config` (gptq or awq) on its calibration set, in place.
    public static func quantize(_ model: LanguageModel, config: QuantizationConfig) throws -> CalibrationReport {
        guard let calibrated = model as? CalibratedModel else {
            throw CoreError.unsupported("\(config.method) is not implemented for the \(model.architecture) architecture")
        }
        if let decoder = model as? DecoderModel, let why = decoder.calibrationObstacle {
            throw CoreError.unsupported("\(config.method) on \(model.architecture): \(why)")
        }
        // Parameters first: a bad value is reported before the calibration text is read.
        switch config.method {
        case "gptq": _ = try gptqConfiguration(config, known: Set(gptqParameters.keys)); _ = try flag(config, "true_sequential", default: true)
        case "awq": _ = try awqConfiguration(config)
        default: throw CoreError.invalid("\(config.method) is not a calibrated method (gptq, awq)")
        }
        let set = config.calibration ?? defaultCalibration
        let samples = try CalibrationData.load(set, tokenizer: model.tokenizer, vocabularySize: model.vocabularySize,
                                               contextLength: model.contextLength)
        let skip: (String) -> Bool = { name in !Quantization.applies(to: name, role: .linear, config: config) }
        var report = try run(calibrated, config: config, samples: samples, skip: skip)
        report.tokenIDs = samples
        report.calibration = set
        return report
    }

    static func run(_ calibrated: CalibratedModel, config: QuantizationConfig, samples: [[Int]], skip: @escaping (String) -> Bool) throws -> CalibrationReport {
        switch config.method {
        case "gptq":
            let g = try gptqConfiguration(config, known: Set(gptqParameters.keys))
            return try CalibrationPass.gptq(calibrated, samples: samples, config: g,
                                            trueSequential: try flag(config, "true_sequential", default: true), skip: skip)
        case "awq":
            let (gs, duo) = try awqConfiguration(config)
            return try AWQ.quantize(calibrated, samples: samples, groupSize: gs, duoScaling: duo, skip: skip)
        default:
            throw CoreError.invalid("\(config.method) is not a calibrated method (gptq, awq)")
        }
    }
}
