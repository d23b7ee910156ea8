// A run's scratch file has no name from the moment it exists, so no way of ending the process
// (SIGKILL from the runner's timeout or the OOM killer) can leave it behind.
import Foundation
import Testing
@testable import ExpRunKit

@Suite struct ScratchFileTests {
    @Test func itHoldsWhatWasWrittenWithoutANameInItsFolder() throws {
        let dir = TestPaths.temporaryDirectory()
        let logits = (0..<750_000).map { Float($0) * 0.25 - 3 }   // 3 MB, more than one write of a pipe or page
        let file = try ScratchFile("logits", in: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        try logits.withUnsafeBytes { try file.write($0) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        let back = try file.read().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(back == logits)
        // Written again, it holds only the new bytes.
        try [Float(1), 2].withUnsafeBytes { try file.write($0) }
        #expect(try file.read().count == 8)
    }

    @Test func aFolderItCannotWriteInIsNamedWithTheFix() throws {
        let missing = TestPaths.temporaryDirectory() + "/gone"
        #expect { try ScratchFile("logits", in: missing) } throws: { error in
            "\(error)".contains(missing + "/exprun-logits-XXXXXX") && "\(error)".contains("TMPDIR")
        }
    }
}
