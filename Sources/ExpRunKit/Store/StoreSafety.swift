// What keeps the run database trustworthy when things go wrong around it:
// - a damaged file (truncated, overwritten, not SQLite at all) is refused when opened, with the
//   reason, and never written to (SQLite's quick_check reads every page's structure);
// - SQLite's errors become one line that says what happened and what to do: the disk filling up
//   (SQLITE_FULL, or a write cut short by a file size limit), a read-only file or folder, a
//   database locked by another process for too long. A run is stored in one transaction, so a
//   failed store leaves the database as it was before that run: freeing space (or making the folder
//   writable) and running the same command again resumes the experiment.
import Foundation
import GRDB

extension Store {
    /// Refuses a database whose pages do not hold together.
    static func verifyIntegrity(_ queue: DatabaseQueue, path: String) throws {
        let problems = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
        guard problems != ["ok"] else { return }
        throw RunnerError.database(path, "is damaged (SQLite's quick_check: \(problems.prefix(2).joined(separator: "; "))); "
            + "exprun leaves it as it is. Keep it for recovery (`sqlite3 \(path) .recover`) and pass --db with a new file, or move it away")
    }

    /// A one-line explanation of a database error met while `doing` something (nil: opening).
    static func explain(_ error: Error, path: String, doing: String? = nil) -> Error {
        guard let e = error as? DatabaseError else { return error }
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let what = doing.map { "could not finish \($0)" } ?? "cannot be opened"
        let resume = doing == nil ? "" : "; the database is as it was before (a run is stored in one transaction): run the same command again to resume"
        let detail = sqliteName(e.resultCode) + (e.message.map { ": \($0)" } ?? "")
        switch e.resultCode {
        case .SQLITE_FULL:
            return RunnerError.database(path, "\(what): the disk is full (\(detail))\(resume) once there is space")
        case .SQLITE_IOERR:
            return RunnerError.database(path, "\(what): a write failed (\(detail), extended code \(e.extendedResultCode.rawValue): the disk is full, a file size limit was reached, or the disk failed)\(resume) once the cause is gone")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN:
            return RunnerError.database(path, "\(what): the database or its folder \(folder) is read-only or not accessible (\(detail)); "
                + "make it writable, or pass --db with a file in a writable folder\(resume.isEmpty ? "" : resume + " once it is writable")")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return RunnerError.database(path, "\(what): it is damaged or not an SQLite database (\(detail)); exprun leaves it as it is. "
                + "Keep it for recovery and pass --db with a new file, or move it away")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return RunnerError.database(path, "\(what): another process held the database locked for too long (\(detail))\(resume)")
        default:
            return RunnerError.database(path, "\(what): \(detail)\(resume)")
        }
    }

    static func sqliteName(_ code: ResultCode) -> String {
        let names: [Int32: String] = [3: "PERM", 5: "BUSY", 6: "LOCKED", 7: "NOMEM", 8: "READONLY", 10: "IOERR", 11: "CORRUPT",
                                      13: "FULL", 14: "CANTOPEN", 26: "NOTADB"]
        return names[code.primaryResultCode.rawValue].map { "SQLITE_" + $0 } ?? "SQLite error \(code.rawValue)"
    }

    /// The sha256 of the model files each stored successful run of `experiment` recorded, by run key.
    public func storedModelFiles(experiment: String) throws -> [(key: String, modelFiles: [String: String])] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT run.key, environment.model_files FROM run
                JOIN experiment ON experiment.id = run.experiment_id JOIN environment ON environment.run_id = run.id
                WHERE experiment.name = ? AND run.status = 'ok'
                """, arguments: [experiment]).map { row in
                let files: String = row["model_files"] ?? "{}"
                return (row["key"], (try? JSONDecoder().decode([String: String].self, from: Data(files.utf8))) ?? [:])
            }
        }
    }
}
