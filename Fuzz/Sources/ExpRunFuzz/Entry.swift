// libFuzzer's entry points. One binary serves every target; `EXPRUN_FUZZ_TARGET` names the one to
// run (scripts/fuzz sets it).
import Foundation

nonisolated(unsafe) var selected: ((UnsafeRawBufferPointer) -> Void)?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["EXPRUN_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        FileHandle.standardError.write(Data("exprun-fuzz: set EXPRUN_FUZZ_TARGET to one of \(FuzzTargets.all.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    FuzzTargets.setUp(name)
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
