// Every command of the README's ```sh blocks, run as a newcomer types it (issue 17): in a fresh
// folder that sees the repository's experiments/ and scripts/, with exprun installed by
// scripts/install on the PATH. Lines with placeholders (MODEL, FILE, RUN) run with the fixture;
// expensive ones are shortened with their own documented options (scripts/main-job --dry-run, a
// shorter perplexity). A README command this table does not know fails the test: add how it runs.
import Foundation
import Testing

@Suite(.serialized) struct ReadmeEndToEndTests {
    /// The command lines of the README's ```sh blocks, trailing comments removed.
    static func readmeCommands() throws -> [String] {
        let text = try String(contentsOf: Exprun.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        var inBlock = false, lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock = line == "```sh" ? !inBlock : false; continue }
            guard inBlock else { continue }
            var command = String(line)
            if let r = command.range(of: #"\s+#\s.*$"#, options: .regularExpression) { command.removeSubrange(r) }
            if !command.isEmpty { lines.append(command) }
        }
        return lines
    }

    /// How each README line runs here ("" = verbatim), and what its output must contain.
    static let plan: [String: (run: String, expect: String)] = [
        "scripts/install": ("", "installed exprun 0.1.0 (commit "),
        "exprun experiments/gpt2-random.exp": ("", " done, 0 already stored, 0 failed"),
        "scripts/main-job": ("scripts/main-job --dry-run", "experiment gemma3-270m: 18 runs"),
        "exprun compare 1 2": ("", "results/compare/1-vs-2/compare.md"),
        "scripts/test": ("test -x scripts/test && echo the suite itself", "the suite itself"),
        "exprun FILE --dry-run": ("exprun experiments/gpt2-random.exp --dry-run", "experiment gpt2-random: 5 runs"),
        "exprun validate FILE": ("exprun validate experiments/gpt2-random.exp", "experiments/gpt2-random.exp: ok"),
        "exprun list": ("", "gpt2-random"),
        "exprun show RUN": ("exprun show 3", "peak added"),
        "exprun report EXPERIMENT": ("exprun report gpt2-random", "results/gpt2-random/report.md"),
        "exprun compare A B": ("exprun compare gpt2-random gpt2-random", "results/compare/gpt2-random-vs-gpt2-random/compare.md"),
        "scripts/fuzz [--time SECONDS] [--release] [TARGET ...]": ("scripts/fuzz --help", "Targets (Fuzz/Sources/ExpRunFuzz/Targets.swift)"),
        "scripts/sanitize [address] [thread]": ("scripts/sanitize --help", "the thread pool's tests"),
        "exprun compare A B --format json": ("exprun compare gpt2-random gpt2-random --format json", #""verdict" : "same""#),
        #"exprun generate MODEL --prompt "Once upon a time" --max-new-tokens 20 [--temperature T --top-k K --top-p P --seed S] [--threads K] [--quant NAME]"#:
            (#"exprun generate "$TINY" --prompt "Once upon a time" --max-new-tokens 20 --temperature 0.8 --top-k 40 --top-p 0.9 --seed 7 --threads 2 --quant q8_0"#, "decode: "),
        "exprun logits MODEL --tokens 7454,2402,257,640 --out logits.safetensors":
            (#"exprun logits "$TINY" --tokens 7454,2402,257,640 --out logits.safetensors && test -s logits.safetensors && echo written"#, "written"),
        #"exprun tokenize MODEL "Hello world""#: (#"exprun tokenize "$TINY" "Hello world""#, "15496 995"),
        "exprun perplexity MODEL --text wikitext-2-raw:test --context 512 --chunks 20 [--quant NAME]":
            (#"exprun perplexity "$TINY" --text wikitext-2-raw:test --context 64 --chunks 2 --quant q8_0"#, "Final estimate: PPL = "),
        "exprun quantize MODEL --to q4_k --out model.gguf": (#"exprun quantize "$TINY" --to q4_k --out model.gguf"#, "wrote model.gguf: 28 tensors"),
        "exprun inspect model.gguf": ("", "blk.0.ffn_down.weight"),
        "exprun quantize model.gguf --to q4_k_m --out mix.gguf": ("", "wrote mix.gguf: 28 tensors"),
        "LLAMA_CPP_BIN=$(../shared/tools/llama-cpp-peer) scripts/bench-quant [--formats fp32,q8_0,...] [--threads 1,2] [--repeats 3]":
            ("scripts/bench-quant --help", "--formats FORMATS"),   // needs llama.cpp's tools, which no test may need
        "scripts/bench-gemma [--threads N] [--repeats N]": ("scripts/bench-gemma --help", "[--threads N] [--repeats N]"),
        "scripts/bench-gptq [--threads 2] [--samples 128] [--tokens 512] [--reference GPTQ_CHECKOUT --rounds N]":
            ("scripts/bench-gptq --help", "--reference REFERENCE"),   // minutes of quantizing, and the reference needs torch
        // A cluster's commands: SlurmEndToEndTests run them against a real Slurm; here the options and a merge of the seed's database.
        "exprun run FILE --slurm [--partition P] [--time HH:MM:SS] [--max-parallel N] [--sbatch-arg=--mem=8G]... [--wait]":
            ("exprun run --help", "--max-parallel <max-parallel>"),
        "exprun status [EXPERIMENT|FILE] [--wait]": ("exprun status gpt2-random || true", "no experiment 'gpt2-random' was submitted with --slurm"),
        "exprun merge SHARD|FOLDER|OTHER.sqlite... [--db results/exprun.sqlite]":
            ("exprun merge results/exprun.sqlite --db merged/exprun.sqlite --no-report", "round(s) imported, 0 already stored"),
        "scripts/main-job experiments/minilm.exp": ("scripts/main-job experiments/minilm.exp --dry-run", "experiment minilm: 14 runs"),
        #"exprun embed MODEL "a text" "another" [--file F] [--quant q8_0] [--threads K] [--batch-size 32] [--out e.safetensors]"#:
            (#"printf 'third\n' > F && exprun embed "$BERT" "a text" "another" --file F --quant q8_0 --threads 2 --batch-size 32 --out e.safetensors && test -s e.safetensors && echo written"#,
             "written"),
        #"exprun tokenize MODEL "a text""#: (#"exprun tokenize "$BERT" "Hello""#, "4 2876 2371 1088 5"),
    ]
    /// Order matters: the seed fills the database the later commands read, quantize writes the file inspect reads.
    static let order = ["scripts/install", "scripts/test", "exprun FILE --dry-run", "exprun validate FILE",
                        "exprun experiments/gpt2-random.exp", "scripts/main-job", "exprun compare 1 2", "exprun list",
                        "exprun show RUN", "exprun report EXPERIMENT", "exprun compare A B", "exprun compare A B --format json",
                        "exprun quantize MODEL --to q4_k --out model.gguf", "exprun inspect model.gguf",
                        "exprun quantize model.gguf --to q4_k_m --out mix.gguf"]

    @Test func everyReadmeCommandHasARun() throws {
        let commands = try Self.readmeCommands()
        #expect(commands.count >= 15)
        for c in commands { #expect(Self.plan[c] != nil, "README command without a run in ReadmeEndToEndTests.plan: \(c)") }
        for c in Self.plan.keys { #expect(commands.contains(c), "ReadmeEndToEndTests.plan runs a line the README no longer has: \(c)") }
    }

    @Test func everyReadmeCommandRuns() throws {
        let commands = try Self.readmeCommands()
        let home = Exprun.temporaryDirectory("readme")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let fm = FileManager.default
        for link in ["experiments", "scripts"] {
            try fm.createSymbolicLink(atPath: home + "/" + link, withDestinationPath: Exprun.packageRoot.appendingPathComponent(link).path)
        }
        let prefix = home + "/prefix"
        let env = [
            "PREFIX": prefix, "EXPRUN_BIN": Exprun.binary, "PATH": prefix + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
            "TINY": Exprun.tinyModel, "BERT": EncoderEndToEndTests.tinyBERT, "EXPRUN_DATA_DIR": Exprun.sharedData.path, "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": NSHomeDirectory() + "/.cache/exprun/pip",
        ]
        let ordered = Self.order.filter { commands.contains($0) } + commands.filter { !Self.order.contains($0) }
        for line in ordered {
            guard let (run, expect) = Self.plan[line] else { continue }
            let command = run.isEmpty ? line : run
            let r = try shell("cd '\(home)' && \(command)", environment: env)
            #expect(r.status == 0, "\(line): exit \(r.status)\n\(r.output.suffix(2000))")
            #expect(r.output.contains(expect), "\(line): no '\(expect)' in\n\(r.output.suffix(2000))")
        }
        // The seed experiment's report with its four charts, as the README shows them.
        // Every chart the README shows from docs/seed-report/ must be one the run writes.
        let readmeText = try String(contentsOfFile: Exprun.packageRoot.appendingPathComponent("README.md").path, encoding: .utf8)
        let shown = readmeText.components(separatedBy: "docs/seed-report/").dropFirst().compactMap { $0.split(whereSeparator: { ")]".contains($0) }).first.map(String.init) }
        #expect(shown.contains("report.md") && shown.contains { $0.hasSuffix(".svg") })
        for file in Set(shown) {
            #expect(fm.fileExists(atPath: home + "/results/gpt2-random/" + file), "\(file)")
        }
        // Its bnb-int8 runs carry the bound that holds against bitsandbytes on a GPU (issue 16).
        let report = try String(contentsOfFile: home + "/results/gpt2-random/report.md", encoding: .utf8)
        #expect(report.contains("bnb-int8 follows bitsandbytes' CUDA int8 kernels") && report.contains("within an F32 ulp of another int8 code"))
        // Inline commands of the README's set-up text.
        #expect(try shell("cd '\(home)' && exprun --version", environment: env).output.hasPrefix("exprun 0.1.0 (commit "))
        #expect(try shell("cd '\(home)' && scripts/install --uninstall", environment: env).status == 0)
        #expect(!fm.fileExists(atPath: prefix + "/bin/exprun"))
    }
}
