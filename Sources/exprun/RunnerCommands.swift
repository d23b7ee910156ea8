// Commands over the experiment runner: run (default), validate, list, show, report, compare.
import ArgumentParser
import ExpRunKit
import Foundation

let runnerCommands: [ParsableCommand.Type] = []
