// The two HTTP operations the Hub client needs, synchronous over URLSession (FoundationNetworking
// on Linux): a request whose headers we read (optionally not following redirects, to see the
// Hub's own headers), and a streaming download that appends to a partial file and resumes it.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum HTTP {
    struct Response {
        var status: Int
        var headers: [String: String]
        func header(_ name: String) -> String? {
            headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    static func request(url: String, method: String, token: String?, followRedirects: Bool) throws -> Response {
        guard let u = URL(string: url) else { throw RunnerError.network("not a URL: \(url)") }
        var request = URLRequest(url: u, timeoutInterval: 60)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let delegate = Delegate(file: nil, followRedirects: followRedirects, progress: nil)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        delegate.done.wait()
        if let error = delegate.error { throw RunnerError.network("cannot reach \(url): \(error.localizedDescription) (check HF_ENDPOINT and the network). \(HubClient.offlineNextStep)") }
        return Response(status: delegate.status, headers: delegate.headers)
    }

    /// Streams `url` into `path`, resuming from the bytes already there when the server honours `Range`.
    static func download(url: String, to path: String, expectedSize: Int?, token: String?,
                         progress: @escaping @Sendable (Int, Int?) -> Void) throws {
        guard let u = URL(string: url) else { throw RunnerError.network("not a URL: \(url)") }
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) { _ = fm.createFile(atPath: path, contents: nil) }
        let have = (try fm.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        if let expectedSize, have == expectedSize { return }
        var request = URLRequest(url: u, timeoutInterval: 60)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if have > 0 { request.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw RunnerError.file(path, "cannot be written") }
        defer { try? handle.close() }
        let delegate = Delegate(file: handle, followRedirects: true, progress: progress)
        delegate.offset = have
        delegate.expected = expectedSize
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        delegate.done.wait()
        if let error = delegate.error { throw RunnerError.network("download of \(url) stopped: \(error.localizedDescription); run again to resume") }
        if let writeError = delegate.writeError { throw RunnerError.file(path, "cannot be written: \(writeError)") }
        guard delegate.status == 200 || delegate.status == 206 else {
            throw RunnerError.network("\(url) answered HTTP \(delegate.status)")
        }
    }

    final class Delegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        let file: FileHandle?
        let followRedirects: Bool
        let progress: (@Sendable (Int, Int?) -> Void)?
        var status = 0
        var headers: [String: String] = [:]
        var error: Error?
        var writeError: Error?
        var offset = 0
        var expected: Int?
        var lastReport = Date.distantPast

        init(file: FileHandle?, followRedirects: Bool, progress: (@Sendable (Int, Int?) -> Void)?) {
            self.file = file; self.followRedirects = followRedirects; self.progress = progress
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(followRedirects ? request : nil)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            if let http = response as? HTTPURLResponse {
                status = http.statusCode
                for (k, v) in http.allHeaderFields { headers["\(k)"] = "\(v)" }
                if let file {
                    // 200 to a ranged request: the server ignored Range; start over.
                    if status == 200 && offset > 0 { try? file.truncate(atOffset: 0); offset = 0 }
                    if status == 200 || status == 206 { _ = try? file.seekToEnd() }
                }
            }
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard let file, status == 200 || status == 206 else { return }
            do { try file.write(contentsOf: data) } catch { writeError = error; dataTask.cancel(); return }
            offset += data.count
            if let progress, Date().timeIntervalSince(lastReport) > 0.5 { lastReport = Date(); progress(offset, expected) }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if let error, writeError == nil { self.error = error }
            if let progress, file != nil { progress(offset, expected) }
            done.signal()
        }
    }
}
