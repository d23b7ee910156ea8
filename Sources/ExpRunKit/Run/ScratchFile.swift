// A file without a name, for what a run must put down while its memory is measured (the logits or
// embeddings that the quality comparison reads back once the model is gone). It is created in the
// temporary folder and unlinked at once, so however the process ends — the runner's timeout and the
// kernel's OOM killer send SIGKILL, which no handler sees — nothing is left behind: a named file
// was (one 1.5 MB `exprun-embeddings-PID.f32` found after a timeout, 2026-11-30).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class ScratchFile {
    private let fd: Int32
    /// The name it had, for errors.
    private let name: String

    /// `purpose` names the file for the moment it has a name (and in errors).
    public init(_ purpose: String, in folder: String = NSTemporaryDirectory()) throws {
        let path = (folder.hasSuffix("/") ? folder : folder + "/") + "exprun-\(purpose)-XXXXXX"
        var template = Array(path.utf8CString)
        fd = mkstemp(&template)
        guard fd >= 0 else { throw RunnerError.file(path, "cannot create a scratch file: \(String(cString: strerror(errno))); set TMPDIR to a writable folder") }
        name = String(cString: template)
        unlink(template)
    }

    deinit { close(fd) }

    /// Replaces what the file holds with `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard ftruncate(fd, 0) == 0 else { throw failure("write") }
        try transfer(bytes.count, "write") { done in pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(done)) }
    }

    /// Everything the file holds.
    public func read() throws -> Data {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("read") }
        var data = Data(count: Int(info.st_size))
        try data.withUnsafeMutableBytes { buffer in
            try transfer(buffer.count, "read") { done in pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done)) }
        }
        return data
    }

    /// Calls `move` (a pread or pwrite at the offset it is given, returning what it moved) until
    /// `count` bytes have moved.
    private func transfer(_ count: Int, _ what: String, _ move: (Int) -> Int) throws {
        var done = 0
        while done < count {
            let n = move(done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure(what) }
            done += n
        }
    }

    private func failure(_ what: String) -> RunnerError {
        RunnerError.file(name + " (unlinked)", "cannot \(what) this scratch file: \(String(cString: strerror(errno))); is the temporary folder's disk full? (TMPDIR chooses another)")
    }
}
