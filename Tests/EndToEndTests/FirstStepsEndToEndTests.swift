// A newcomer's first minutes (issue 17): `exprun --version` names the commit it was built from,
// `scripts/install` puts exprun and its shell completions under a prefix and takes them away again,
// and the classic experiment without a network says what to type next.
import Foundation
import Testing

/// Runs `command` with bash in the package root; stdout and stderr together.
func shell(_ command: String, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", command]
    p.currentDirectoryURL = Exprun.packageRoot
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite(.serialized) struct FirstStepsEndToEndTests {
    /// The commit is the one the binary was built from (the tests run right after the build).
    @Test func versionNamesTheCommit() throws {
        let r = try Exprun.run(["--version"])
        #expect(r.status == 0)
        let line = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("exprun 0.1.0 (commit "), "\(line)")
        guard FileManager.default.fileExists(atPath: Exprun.packageRoot.path + "/.git") else {
            #expect(line == "exprun 0.1.0 (commit unknown)")
            return
        }
        let head = try shell("git rev-parse HEAD").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let dirty = !(try shell("git status --porcelain --untracked-files=no").output.isEmpty)
        #expect(head.count == 40)
        #expect(line == "exprun 0.1.0 (commit \(head)\(dirty ? "+dirty" : ""))")
    }

    @Test func installAndUninstall() throws {
        let prefix = Exprun.temporaryDirectory("prefix")
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let env = ["PREFIX": prefix, "EXPRUN_BIN": Exprun.binary]
        let install = try shell("scripts/install", environment: env)
        #expect(install.status == 0, "\(install.output)")
        let version = try Exprun.run(["--version"]).stdout
        let installed = try shell("\(prefix)/bin/exprun --version")
        #expect(installed.status == 0 && installed.output == version)
        // The installed binary finds its bundled tokenizer beside itself, wherever it runs.
        let tokens = try shell("cd / && \(prefix)/bin/exprun tokenize random:gpt2 'Hello world'")
        #expect(tokens.output == "15496 995\n", "\(tokens.output)")
        let bash = try String(contentsOfFile: prefix + "/share/bash-completion/completions/exprun", encoding: .utf8)
        let zsh = try String(contentsOfFile: prefix + "/share/zsh/site-functions/_exprun", encoding: .utf8)
        #expect(bash.contains("complete") && bash.contains("exprun") && bash.contains("--dry-run"))
        #expect(zsh.hasPrefix("#compdef exprun") && zsh.contains("--dry-run"))
        let uninstall = try shell("scripts/install --uninstall", environment: ["PREFIX": prefix])
        #expect(uninstall.status == 0, "\(uninstall.output)")
        for path in ["/bin/exprun", "/libexec/exprun", "/share/bash-completion/completions/exprun", "/share/zsh/site-functions/_exprun"] {
            #expect(!FileManager.default.fileExists(atPath: prefix + path), "\(path) left behind")
        }
    }

    /// `exprun experiments/gpt2.exp` on a machine that cannot reach the Hub, or offline without
    /// the model cached: the error says why and what to type instead, and no database appears.
    @Test func classicExperimentOfflineOffersTheNextStep() throws {
        let dir = Exprun.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = dir + "/hf-cache"
        for (offline, why) in [(false, "cannot reach http://127.0.0.1:1/gpt2/"), (true, "not in the Hugging Face cache")] {
            var env = ["HF_ENDPOINT": "http://127.0.0.1:1", "HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "0"]
            if offline { env["HF_HUB_OFFLINE"] = "1" }
            let db = dir + "/exprun.sqlite"
            let r = try Exprun.run(["experiments/gpt2.exp", "--db", db], environment: env, timeout: 120)
            #expect(r.status == 1)
            #expect(r.stderr.hasPrefix("exprun: error: model 'gpt2': "), "\(r.stderr)")
            #expect(r.stderr.contains(why), "\(r.stderr)")
            #expect(r.stderr.contains("`exprun experiments/gpt2-random.exp`"), "\(r.stderr)")
            #expect(r.stderr.contains("`HF_HUB_OFFLINE=1 exprun FILE`"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
            #expect(!FileManager.default.fileExists(atPath: db))
        }
    }
}
