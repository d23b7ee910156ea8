// The model files an experiment measures must stay the same files from its first run to its last,
// across interruptions and resumes: a report that mixed runs of two different checkpoints under one
// model name would be wrong without saying so. The sha256 of every model file is taken once per
// session (and stored with each run); before and after each run the files' size, modification time
// and inode are compared with what they were then, and a change is hashed again. A different
// sha256 — against the stored runs when resuming, or during the session — stops the experiment
// with an error naming the file; nothing measured on the changed file is stored.
import Foundation
import InferenceCore

final class ModelFileCheck {
    struct Stamp: Equatable {
        var size: Int64, modified: Double, inode: UInt64
    }

    private var hashes: [String: [String: String]] = [:]     // reference → file name → sha256
    private var stamps: [String: [String: Stamp]] = [:]      // reference → path → stamp
    let progress: ProgressReporter

    init(progress: ProgressReporter) { self.progress = progress }

    /// sha256 of each file of `reference`, by file name; hashed on first use.
    func hashes(of reference: String) throws -> [String: String] {
        if let h = hashes[reference] { return h }
        var h: [String: String] = [:], s: [String: Stamp] = [:]
        for file in try ModelLoader.modelFiles(reference) {
            progress.message("sha256 of \(file)")
            s[file] = Self.stamp(file)
            h[(file as NSString).lastPathComponent] = try SHA256.hex(fileAt: file)
        }
        hashes[reference] = h
        stamps[reference] = s
        return h
    }

    /// Throws if a file of `reference` no longer has the sha256 taken first (cheap when its
    /// size, time and inode are unchanged).
    func verifyUnchanged(_ reference: String, model: String, during: String) throws {
        guard let known = stamps[reference], let first = hashes[reference] else { return }
        for (path, stamp) in known where Self.stamp(path) != stamp {
            let name = (path as NSString).lastPathComponent
            let now = FileManager.default.fileExists(atPath: path) ? try SHA256.hex(fileAt: path) : "missing"
            if now == first[name] { stamps[reference]?[path] = Self.stamp(path); continue }
            throw RunnerError.model(model, "file \(path) changed \(during) (sha256 \(Self.short(first[name])) when the experiment started, now \(Self.short(now))); "
                + "runs measured on the two files must not be mixed in one experiment. Restore the file and run the same command again, "
                + "or run with --force to measure every configuration again on the new file")
        }
    }

    /// Throws if runs already stored (and so skipped now) recorded other sha256s for this model's files.
    func verifyStored(_ stored: [(key: String, modelFiles: [String: String])], reference: String, model: String) throws {
        let current = try hashes(of: reference)
        var differing: [String: (then: String, count: Int)] = [:]
        for run in stored {
            for (name, sha) in run.modelFiles where current[name] != nil && current[name] != sha {
                differing[name] = (sha, (differing[name]?.count ?? 0) + 1)
            }
        }
        guard let (name, old) = differing.min(by: { $0.key < $1.key }) else { return }
        throw RunnerError.model(model, "file \(name) changed since \(old.count) stored run(s) of this experiment were measured "
            + "(sha256 then \(Self.short(old.then)), now \(Self.short(current[name]))); resuming would mix runs of two different files. "
            + "Restore the file, or run with --force to measure every configuration again on the new file")
    }

    static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        #if canImport(Darwin)
        let modified = Double(st.st_mtimespec.tv_sec) + Double(st.st_mtimespec.tv_nsec) / 1e9
        #else
        let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        #endif
        return Stamp(size: Int64(st.st_size), modified: modified, inode: UInt64(st.st_ino))
    }

    static func short(_ sha: String?) -> String { sha.map { String($0.prefix(12)) + "…" } ?? "?" }
}
