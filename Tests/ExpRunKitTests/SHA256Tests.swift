// SHA-256 against FIPS 180-4's examples and the checksums ../shared/data/README.md publishes.
import Foundation
import Testing
@testable import ExpRunKit

@Suite struct SHA256Tests {
    @Test func fipsExamples() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func streamingInPiecesEqualsOneShot() {
        let data = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var h = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 7, 300, 500] where i < data.count {
            h.update(data[i..<min(data.count, i + size)]); i += size
        }
        let pieces = h.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(pieces == SHA256.hex(data))
    }

    @Test func sharedDataFilesMatchTheirPublishedChecksums() throws {
        let readme = try String(contentsOf: TestPaths.sharedData.appendingPathComponent("README.md"), encoding: .utf8)
        // The README's `sha256sum -c` block: "<hex>  <path>".
        let lines = readme.split(separator: "\n").filter { $0.range(of: #"^[0-9a-f]{64}  \S+$"#, options: .regularExpression) != nil }
        #expect(lines.count >= 5)
        for line in lines where line.hasSuffix(".out") || line.hasSuffix(".inp") || line.hasSuffix("merges.txt") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            // Section 5's block names files relative to llama.cpp-vocab/, the others relative to data/.
            var path = TestPaths.sharedData.appendingPathComponent(String(parts[1])).path
            if !FileManager.default.fileExists(atPath: path) {
                path = TestPaths.sharedData.appendingPathComponent("llama.cpp-vocab/" + parts[1]).path
            }
            #expect(try SHA256.hex(fileAt: path) == String(parts[0]), "\(parts[1])")
        }
    }
}
