// The experiment runner, in the order data flows through it:
//   Spec/     experiment file (YAML) → validated ExperimentSpec → Plan (one keyed entry per run)
//   Hub/      model references: local paths, the core's random: models, Hugging Face Hub ids
//             resolved through the HF cache and downloaded when allowed
//   Run/      the parent (ExperimentRunner) spawns `exprun run-one` per entry (ChildProcess); the
//             child (ChildRun) loads, warms up, repeats, measures memory (MemoryProbe) and quality,
//             and prints one RunRecord; Environment says on what machine and build
//   Store/    SQLite through GRDB: schema migrations, one transaction per run, resume by key
//   Report/   markdown from Mustache templates, SVG charts, comparisons, terminal listings
//   Support/  SHA-256, edit distance, the runner's error type
// It uses InferenceCore only through ModelLoader, generate, the tokenizer and Evaluation.
import InferenceCore
