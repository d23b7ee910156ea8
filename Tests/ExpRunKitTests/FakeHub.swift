// A Hugging Face Hub on loopback for the download tests: a few dozen lines of HTTP/1.1 over POSIX
// sockets serving a model directory at `/{repo}/resolve/{revision}/{file}` the way the Hub does:
// `X-Repo-Commit`, an ETag (the sha256 as `X-Linked-Etag` for large files), HEAD, and `Range`.
import Foundation
@testable import ExpRunKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class FakeHub: @unchecked Sendable {
    let repo: String
    let directory: String
    let commit = "0123456789abcdef0123456789abcdef01234567"
    /// Serve altered bytes for large files (with the true checksum) to test verification.
    var corrupt = false
    /// Send no Hub headers at all (no commit, no ETag), as a plain static file server would.
    var bare = false
    private(set) var port: UInt16 = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var _requests: [String] = []
    var requests: [String] { lock.lock(); defer { lock.unlock() }; return _requests }

    init(repo: String, directory: String) throws {
        self.repo = repo; self.directory = directory
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw NSError(domain: "FakeHub", code: 1) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let fd = listener
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.range(of: Data("\r\n\r\n".utf8)) == nil {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
        }
        let lines = String(decoding: request, as: UTF8.self).components(separatedBy: "\r\n")
        let first = lines[0].split(separator: " ")
        guard first.count >= 2 else { return }
        let method = String(first[0]), path = String(first[1])
        let range = lines.first { $0.lowercased().hasPrefix("range:") }.map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
        lock.lock(); _requests.append("\(method) \(path)\(range.map { " " + $0 } ?? "")"); lock.unlock()

        let prefix = "/\(repo)/resolve/main/"
        let file = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : ""
        guard !file.isEmpty, !file.contains(".."), var body = FileManager.default.contents(atPath: directory + "/" + file) else {
            send(client, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", Data())
            return
        }
        let large = body.count > 1_000_000
        var headers = bare ? "" : "X-Repo-Commit: \(commit)\r\n"
        if bare {
        } else if large {
            headers += "X-Linked-Etag: \"\(Self.digest(file, body))\"\r\nX-Linked-Size: \(body.count)\r\n"
            if corrupt { body[body.count / 2] ^= 0xFF }
        } else {
            headers += "ETag: \"\(Self.digest(file, body).prefix(40))\"\r\n"
        }
        var status = "200 OK"
        if let range, range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).split(separator: "-").first ?? ""), start < body.count {
            headers += "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\n"
            body = body.subdata(in: start..<body.count)
            status = "206 Partial Content"
        }
        headers += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        send(client, "HTTP/1.1 \(status)\r\n\(headers)\r\n", method == "HEAD" ? Data() : body)
    }

    /// sha256 per file, computed once (debug builds hash slowly).
    nonisolated(unsafe) static var digests: [String: String] = [:]
    static let digestLock = NSLock()
    static func digest(_ name: String, _ body: Data) -> String {
        digestLock.lock(); defer { digestLock.unlock() }
        if let d = digests[name] { return d }
        let d = SHA256.hex(body)
        digests[name] = d
        return d
    }

    private func send(_ client: Int32, _ head: String, _ body: Data) {
        var all = Data(head.utf8)
        all.append(body)
        all.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                #if os(Linux)
                let n = Glibc.send(client, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                #else
                let n = Darwin.send(client, raw.baseAddress! + sent, raw.count - sent, 0)
                #endif
                if n <= 0 { return }
                sent += n
            }
        }
    }
}
