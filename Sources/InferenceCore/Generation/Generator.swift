// Autoregressive generation with honest timings: the prompt is one forward pass (prefill, which
// includes choosing the first token), then one pass per further token (decode steps), each timed
// on its own so the runner can report medians and spreads rather than one average.
import Foundation

public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var stopAtEOS: Bool          // false = always produce maxNewTokens
    public var temperature: Float       // 0 = greedy
    public var topK: Int                // 0 = off
    public var topP: Float              // 1 = off
    public var seed: UInt64
    public init(maxNewTokens: Int, stopAtEOS: Bool = true, temperature: Float = 0,
                topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.maxNewTokens = maxNewTokens; self.stopAtEOS = stopAtEOS; self.temperature = temperature
        self.topK = topK; self.topP = topP; self.seed = seed
    }
}

public struct GenerationResult: Sendable {
    public var promptTokens: [Int]
    public var tokens: [Int]            // generated only
    public var prefillSeconds: Double   // forward over the prompt, including sampling token 1
    public var decodeStepSeconds: [Double]  // one per token after the first
    public var timeToFirstToken: Double
    public var totalSeconds: Double
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
}

/// The end-of-sequence id of a model: its tokenizer's, else its config's.
public func endOfSequenceToken(_ model: LanguageModel) -> Int? {
    model.tokenizer?.eosTokenID ?? (model as? GPT2)?.config.eosTokenID
}

public func generate(_ model: LanguageModel, prompt: [Int], options: GenerationOptions,
                     onToken: ((Int) -> Void)? = nil) throws -> GenerationResult {
    guard !prompt.isEmpty else { throw CoreError.invalid("the prompt is empty: generation needs at least one token") }
    guard options.maxNewTokens >= 1 else { throw CoreError.invalid("max new tokens must be at least 1, got \(options.maxNewTokens)") }
    guard options.temperature >= 0, options.temperature.isFinite else { throw CoreError.invalid("temperature must be ≥ 0, got \(options.temperature)") }
    guard options.topK >= 0 else { throw CoreError.invalid("top-k must be ≥ 0 (0 = off), got \(options.topK)") }
    guard options.topP > 0, options.topP <= 1 else { throw CoreError.invalid("top-p must be in (0, 1], got \(options.topP)") }
    let total = prompt.count + options.maxNewTokens - 1        // the last token is never fed back
    guard total <= model.contextLength else {
        throw CoreError.invalid("\(prompt.count) prompt tokens + \(options.maxNewTokens) new tokens exceed the model's context of \(model.contextLength)")
    }
    let eos = options.stopAtEOS ? endOfSequenceToken(model) : nil
    var sampler = Sampler(temperature: options.temperature, topK: options.topK, topP: options.topP, seed: options.seed)
    let cache = model.makeCache(capacity: total)
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

    let start = clock.now
    var token = sampler.next(try model.forward(prompt, cache: cache, allLogits: false))
    let prefill = seconds(clock.now - start)
    var tokens = [token]
    onToken?(token)
    var steps: [Double] = []
    while tokens.count < options.maxNewTokens && token != eos {
        let t0 = clock.now
        token = sampler.next(try model.forward([token], cache: cache, allLogits: false))
        steps.append(seconds(clock.now - t0))
        tokens.append(token)
        onToken?(token)
    }
    let totalSeconds = seconds(clock.now - start)
    let decodeTime = steps.reduce(0, +)
    return GenerationResult(
        promptTokens: prompt, tokens: tokens, prefillSeconds: prefill, decodeStepSeconds: steps,
        timeToFirstToken: prefill, totalSeconds: totalSeconds,
        prefillTokensPerSecond: Double(prompt.count) / prefill,
        decodeTokensPerSecond: steps.isEmpty ? 0 : Double(steps.count) / decodeTime)
}
