// `exprun`: the command line. Thin: every command parses its options and calls a library.
// Commands are grouped by the library they front (CoreCommands, RunnerCommands, QuantCommands) so
// each group can grow without touching the others.
import ArgumentParser
import ExpRunKit
import Foundation

@main
struct ExpRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exprun",
        abstract: "Run LLM quantization experiments: memory, time and quality, measured and stored.",
        version: "exprun \(exprunVersion) (commit \(BuildInfo.commit))",
        subcommands: runnerCommands + slurmCommands + coreCommands + quantCommands + encoderCommands,
        defaultSubcommand: runnerCommands.first
    )
}

let exprunVersion = "0.1.0"
