// Commands over the inference core: generate, tokenize, logits, inspect, perplexity.
import ArgumentParser
import Foundation
import InferenceCore

let coreCommands: [ParsableCommand.Type] = []
