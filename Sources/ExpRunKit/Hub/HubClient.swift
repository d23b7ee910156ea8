// Hugging Face Hub models without huggingface_hub: the cache layout it uses and the download it
// does, so a model fetched by either is found by the other.
//
// Cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. A repo `org/name` lives in
// `models--org--name/` with `refs/<revision>` (a file holding the commit hash), `blobs/<etag>`
// (the bytes) and `snapshots/<commit>/<file>` (relative symlinks into blobs).
// Download: `$HF_ENDPOINT/{repo}/resolve/{revision}/{file}`. A HEAD without following redirects
// gives `X-Repo-Commit`, the etag (`X-Linked-Etag` for large files: their sha256) and the size;
// the GET streams into `blobs/<name>.incomplete`, resuming with `Range:` from what is there, and
// the finished file is checked against the size and, when the etag is a sha256, its hash.
// `HF_HUB_OFFLINE=1` forbids the network: a model must then be in the cache.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct HubClient: Sendable {
    public var endpoint: String
    public var cacheDirectory: String
    public var offline: Bool
    public var token: String?
    /// Where download progress goes (stderr in the command line; nothing in tests).
    public var log: @Sendable (String) -> Void

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        endpoint = (environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co")
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        let home = environment["HF_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")) + "/huggingface")
        cacheDirectory = environment["HF_HUB_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/hub"
        offline = ["1", "true", "yes", "on"].contains((environment["HF_HUB_OFFLINE"] ?? "").lowercased())
        token = environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        self.log = log
    }

    public func repoDirectory(_ repo: String) -> String {
        cacheDirectory + "/models--" + repo.replacingOccurrences(of: "/", with: "--")
    }

    static let tokenizerFiles = ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
                                 "merges.txt", "special_tokens_map.json", "tokenizer.model"]

    /// The snapshot folder for `revision` if the cache already holds a usable model there.
    public func cachedSnapshot(repo: String, revision: String = "main", needWeights: Bool) -> String? {
        let dir = repoDirectory(repo)
        let commit = (try? String(contentsOfFile: dir + "/refs/" + revision, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? revision
        let snapshot = dir + "/snapshots/" + commit
        let fm = FileManager.default
        guard fm.fileExists(atPath: snapshot + "/config.json") else { return nil }
        if !needWeights { return snapshot }
        if fm.fileExists(atPath: snapshot + "/model.safetensors") { return snapshot }
        if let shards = try? Self.shards(indexAt: snapshot + "/model.safetensors.index.json"),
           shards.allSatisfy({ fm.fileExists(atPath: snapshot + "/" + $0) }) { return snapshot }
        return nil
    }

    static func shards(indexAt path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw RunnerError.file(path, "missing") }
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw RunnerError.file(path, "has no `weight_map` object; is it a safetensors index?")
        }
        return Array(Set(map.values)).sorted()
    }

    /// What to type next when a model cannot be had (no network, or offline and not cached).
    public static let offlineNextStep = "Without the model, the next step: `exprun experiments/gpt2-random.exp` runs the classic GPT-2 experiment "
        + "on synthetic weights of its shape (memory and time are real; `weights: random` does the same in any experiment file); "
        + "with the model in the Hugging Face cache (HF_HOME / HF_HUB_CACHE), `HF_HUB_OFFLINE=1 exprun FILE` runs without a network"

    /// The snapshot folder of `repo`, downloading what is missing unless offline.
    public func snapshot(repo: String, revision: String = "main", needWeights: Bool) throws -> String {
        if let dir = cachedSnapshot(repo: repo, revision: revision, needWeights: needWeights) { return dir }
        if offline {
            throw RunnerError.model(repo, "not in the Hugging Face cache (\(repoDirectory(repo))) and HF_HUB_OFFLINE=1 forbids downloading; "
                + "run once with a network, set HF_HOME or HF_HUB_CACHE to a cache that has it, or point `model:` at a local directory. \(Self.offlineNextStep)")
        }
        guard let config = try fetch(repo: repo, revision: revision, file: "config.json") else {
            throw RunnerError.model(repo, "\(endpoint)/\(repo) has no config.json at revision \(revision); check the id (is it `org/name`?)")
        }
        let snapshot = (config as NSString).deletingLastPathComponent
        for file in Self.tokenizerFiles { _ = try fetch(repo: repo, revision: revision, file: file) }
        if needWeights {
            if try fetch(repo: repo, revision: revision, file: "model.safetensors") == nil {
                guard let index = try fetch(repo: repo, revision: revision, file: "model.safetensors.index.json") else {
                    throw RunnerError.model(repo, "\(endpoint)/\(repo) has neither model.safetensors nor model.safetensors.index.json; exprun reads safetensors weights only")
                }
                for shard in try Self.shards(indexAt: index) {
                    guard try fetch(repo: repo, revision: revision, file: shard) != nil else {
                        throw RunnerError.model(repo, "the index names shard \(shard) but the Hub has no such file")
                    }
                }
            }
        }
        return snapshot
    }

    /// Downloads one file into the cache (unless there already) and returns its snapshot path;
    /// nil when the Hub has no such file.
    public func fetch(repo: String, revision: String, file: String) throws -> String? {
        let url = "\(endpoint)/\(repo)/resolve/\(revision)/\(file)"
        let head = try HTTP.request(url: url, method: "HEAD", token: token, followRedirects: false)
        switch head.status {
        case 200..<400: break
        case 404: return nil
        case 401, 403:
            throw RunnerError.model(repo, "\(url) answered \(head.status): the repository is gated or private; accept its licence on the Hub and set HF_TOKEN")
        default: throw RunnerError.network("\(url) answered HTTP \(head.status)")
        }
        let commit = head.header("X-Repo-Commit") ?? revision
        let etag = (head.header("X-Linked-Etag") ?? head.header("ETag")).map(Self.cleanETag)
        let size = (head.header("X-Linked-Size") ?? (head.status == 200 ? head.header("Content-Length") : nil)).flatMap { Int($0) }
        let dir = repoDirectory(repo)
        let fm = FileManager.default
        let snapshotFile = dir + "/snapshots/" + commit + "/" + file
        try fm.createDirectory(atPath: dir + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: (snapshotFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/refs", withIntermediateDirectories: true)
        if revision != commit { try commit.write(toFile: dir + "/refs/" + revision, atomically: true, encoding: .utf8) }
        if fm.fileExists(atPath: snapshotFile) { return snapshotFile }

        let blobName = etag.flatMap { $0.range(of: #"^[A-Za-z0-9._-]+$"#, options: .regularExpression) != nil ? $0 : nil }
            ?? SHA256.hex(url)
        let blob = dir + "/blobs/" + blobName
        if !fm.fileExists(atPath: blob) {
            let partial = blob + ".incomplete"
            let getURL = head.status >= 300 ? (head.header("Location").map { Self.absolute($0, relativeTo: url) } ?? url) : url
            try HTTP.download(url: getURL, to: partial, expectedSize: size, token: token) { done, total in
                let totalText = total.map { String(format: "%.1f", Double($0) / 1e6) } ?? "?"
                log("downloading \(repo)/\(file): \(String(format: "%.1f", Double(done) / 1e6)) / \(totalText) MB")
            }
            let written = (try fm.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.intValue ?? -1
            if let size, written != size {
                throw RunnerError.network("\(url): got \(written) bytes, expected \(size); run again to resume the download")
            }
            if let etag, etag.count == 64, etag.allSatisfy(\.isHexDigit) {
                let digest = try SHA256.hex(fileAt: partial)
                if digest != etag.lowercased() {
                    try? fm.removeItem(atPath: partial)
                    throw RunnerError.network("\(url): sha256 \(digest) does not match the Hub's \(etag); the partial file was deleted, run again")
                }
            }
            try fm.moveItem(atPath: partial, toPath: blob)
        }
        let depth = file.split(separator: "/").count - 1
        let relative = String(repeating: "../", count: 2 + depth) + "blobs/" + blobName
        try? fm.removeItem(atPath: snapshotFile)
        try fm.createSymbolicLink(atPath: snapshotFile, withDestinationPath: relative)
        return snapshotFile
    }

    static func cleanETag(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("W/") { t.removeFirst(2) }
        return t.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    static func absolute(_ location: String, relativeTo base: String) -> String {
        URL(string: location, relativeTo: URL(string: base))?.absoluteString ?? location
    }
}
