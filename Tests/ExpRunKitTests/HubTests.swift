// Hub model references against a fake Hub on loopback serving ../shared/data/gpt2-tiny-random:
// the download lands in the Hugging Face cache layout, is verified, resumes a partial file, is
// found again offline, and every failure says what to do.
import Foundation
import InferenceCore
import Testing
@testable import ExpRunKit

@Suite(.serialized) struct HubTests {
    let repo = "exprun-test/gpt2-tiny"

    func client(_ hub: FakeHub?, cache: String, offline: Bool = false) -> HubClient {
        var env = ["HF_HUB_CACHE": cache, "HF_ENDPOINT": hub?.endpoint ?? "http://127.0.0.1:1"]
        if offline { env["HF_HUB_OFFLINE"] = "1" }
        return HubClient(environment: env)
    }

    @Test func downloadsIntoTheHuggingFaceCacheLayout() throws {
        let hub = try FakeHub(repo: repo, directory: TestPaths.tinyModel)
        defer { hub.stop() }
        let cache = TestPaths.temporaryDirectory()
        let snapshot = try client(hub, cache: cache).snapshot(repo: repo, needWeights: true)

        let repoDir = cache + "/models--exprun-test--gpt2-tiny"
        #expect(snapshot == repoDir + "/snapshots/" + hub.commit)
        #expect(try String(contentsOfFile: repoDir + "/refs/main", encoding: .utf8) == hub.commit)
        let fm = FileManager.default
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "generation_config.json"] {
            let link = try fm.destinationOfSymbolicLink(atPath: snapshot + "/" + file)
            #expect(link.hasPrefix("../../blobs/"))
            #expect(fm.contents(atPath: snapshot + "/" + file) == fm.contents(atPath: TestPaths.tinyModel + "/" + file))
        }
        // The large file's blob is named by its sha256, as huggingface_hub names it.
        let weightsSHA = try SHA256.hex(fileAt: TestPaths.tinyModel + "/model.safetensors")
        #expect(fm.fileExists(atPath: repoDir + "/blobs/" + weightsSHA))
        #expect(!fm.fileExists(atPath: snapshot + "/tokenizer.json"))   // 404 on the Hub: optional
        #expect(try fm.contentsOfDirectory(atPath: repoDir + "/blobs").allSatisfy { !$0.hasSuffix(".incomplete") })

        // The core loads what was downloaded.
        let model = try ModelLoader.load(snapshot)
        #expect(model.storedWeightBytes > 0)

        // Found again without the network.
        hub.stop()
        let offline = client(nil, cache: cache, offline: true)
        #expect(offline.cachedSnapshot(repo: repo, needWeights: true) == snapshot)
        #expect(try ModelReference.resolve(repo, weights: .pretrained, baseDirectory: "/", hub: offline) == snapshot)
        #expect(try ModelReference.resolve(repo, weights: .random, baseDirectory: "/", hub: offline) == "random:" + snapshot)
    }

    @Test func aPlainStaticServerWorksToo() throws {
        // Without X-Repo-Commit the snapshot is named by the revision; without an ETag the blob
        // is named by the URL's hash. The files must still arrive whole and load.
        let hub = try FakeHub(repo: repo, directory: TestPaths.tinyModel)
        hub.bare = true
        defer { hub.stop() }
        let cache = TestPaths.temporaryDirectory()
        let snapshot = try client(hub, cache: cache).snapshot(repo: repo, needWeights: true)
        #expect(snapshot.hasSuffix("/snapshots/main"))
        #expect(FileManager.default.contents(atPath: snapshot + "/model.safetensors") == FileManager.default.contents(atPath: TestPaths.tinyModel + "/model.safetensors"))
        #expect(client(nil, cache: cache, offline: true).cachedSnapshot(repo: repo, needWeights: true) == snapshot)
    }

    @Test func resumesAPartialDownload() throws {
        let hub = try FakeHub(repo: repo, directory: TestPaths.tinyModel)
        defer { hub.stop() }
        let cache = TestPaths.temporaryDirectory()
        let source = TestPaths.tinyModel + "/model.safetensors"
        let sha = try SHA256.hex(fileAt: source)
        let blobs = cache + "/models--exprun-test--gpt2-tiny/blobs"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        let whole = try #require(FileManager.default.contents(atPath: source))
        try whole.prefix(1_000_000).write(to: URL(fileURLWithPath: blobs + "/" + sha + ".incomplete"))

        let snapshot = try client(hub, cache: cache).snapshot(repo: repo, needWeights: true)
        #expect(hub.requests.contains("GET /\(repo)/resolve/main/model.safetensors bytes=1000000-"))
        #expect(FileManager.default.contents(atPath: snapshot + "/model.safetensors") == whole)
    }

    @Test func aCorruptDownloadIsRejectedAndRemoved() throws {
        let hub = try FakeHub(repo: repo, directory: TestPaths.tinyModel)
        hub.corrupt = true
        defer { hub.stop() }
        let cache = TestPaths.temporaryDirectory()
        do {
            _ = try client(hub, cache: cache).snapshot(repo: repo, needWeights: true)
            Issue.record("a corrupt download was accepted")
        } catch let error as RunnerError {
            #expect("\(error)".contains("does not match"))
        }
        let blobs = try FileManager.default.contentsOfDirectory(atPath: cache + "/models--exprun-test--gpt2-tiny/blobs")
        let sha = try SHA256.hex(fileAt: TestPaths.tinyModel + "/model.safetensors")
        #expect(!blobs.contains(sha) && !blobs.contains(sha + ".incomplete"))
    }

    @Test func offlineOrUnreachableSaysWhatToDo() throws {
        let cache = TestPaths.temporaryDirectory()
        do {
            _ = try client(nil, cache: cache, offline: true).snapshot(repo: repo, needWeights: true)
            Issue.record("offline download did not fail")
        } catch {
            #expect("\(error)".contains("HF_HUB_OFFLINE=1"))
            #expect("\(error)".contains("weights: random"))
        }
        do {
            _ = try client(nil, cache: cache).snapshot(repo: repo, needWeights: true)
            Issue.record("download from a closed port did not fail")
        } catch {
            #expect("\(error)".contains("cannot reach http://127.0.0.1:1/"))
        }
        let hub = try FakeHub(repo: repo, directory: TestPaths.tinyModel)
        defer { hub.stop() }
        #expect(throws: RunnerError.self) { try client(hub, cache: cache).snapshot(repo: "exprun-test/no-such-model", needWeights: true) }
        // GPT-2's shape is built into the core: random weights need no download.
        #expect(try ModelReference.resolve("gpt2", weights: .random, baseDirectory: "/", hub: client(nil, cache: cache, offline: true)) == "random:gpt2")
    }

    @Test func environmentDecidesTheCacheFolder() {
        #expect(HubClient(environment: ["HF_HOME": "/h"]).cacheDirectory == "/h/hub")
        #expect(HubClient(environment: ["HF_HOME": "/h", "HF_HUB_CACHE": "/c"]).cacheDirectory == "/c")
        #expect(HubClient(environment: ["HF_ENDPOINT": "http://x/"]).endpoint == "http://x")
        #expect(HubClient(environment: [:]).endpoint == "https://huggingface.co")
        #expect(HubClient(environment: ["HF_HUB_OFFLINE": "1"]).offline)
        #expect(HubClient(environment: [:]).repoDirectory("openai-community/gpt2").hasSuffix("/models--openai-community--gpt2"))
    }
}
