// Commands over quantization formats: quantize (GGUF export).
import ArgumentParser
import Foundation
import InferenceCore

let quantCommands: [ParsableCommand.Type] = []
