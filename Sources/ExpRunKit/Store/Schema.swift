// The database schema, as numbered migrations. Each migration runs once, in an IMMEDIATE
// transaction that also bumps `PRAGMA user_version`, so two exprun processes opening a fresh
// database at the same moment cannot both apply it (the second waits, then sees it done).
//
// experiment   one row per experiment name: the spec as last run
// run          one row per (experiment, plan key): configuration, memory, load, quality columns
// measurement  one row per repeat: prefill / decode tokens/s, time to first token, total time, its
//              round, the CPU time of the process, of the whole machine and stolen meanwhile, and
//              the memory bandwidth the machine gave right before and after
// output       one row per repeat: generated text and token ids
// environment  one row per run: machine, build, sha256 of model and experiment files, Slurm job and node
// run_round    one row per (run, round): each round's process, its status, load time and memory
//              (and Slurm job and node);
//              the run's own columns are then medians over its rounds
import Foundation
import GRDB

enum Schema {
    static let migrations: [String] = [
        // 1: the first schema.
        """
        CREATE TABLE experiment (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            description TEXT,
            spec_path TEXT NOT NULL,
            spec_text TEXT NOT NULL,
            spec_sha256 TEXT NOT NULL,
            weights TEXT NOT NULL,
            baseline TEXT,
            charts TEXT NOT NULL,
            template TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE run (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            stderr_tail TEXT,
            model TEXT NOT NULL,
            loader_reference TEXT,
            weights TEXT NOT NULL,
            quantization TEXT NOT NULL,
            threads INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            plan_json TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            weight_bytes INTEGER,
            parameters INTEGER,
            bits_per_weight REAL,
            bytes_by_format TEXT,
            load_seconds REAL,
            memory_source TEXT,
            rss_before_load INTEGER,
            rss_after_load INTEGER,
            anon_after_load INTEGER,
            file_after_load INTEGER,
            peak_rss INTEGER,
            rss_after_generate INTEGER,
            rss_after_unload INTEGER,
            anon_after_unload INTEGER,
            file_after_unload INTEGER,
            prompt_tokens TEXT,
            new_tokens_requested INTEGER,
            perplexity REAL,
            kl_mean REAL,
            kl_p99 REAL,
            top_token_agreement REAL,
            first_divergence INTEGER,
            UNIQUE (experiment_id, key)
        );
        CREATE INDEX run_by_finish ON run(finished_at);
        CREATE TABLE measurement (
            run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
            repeat INTEGER NOT NULL,
            prefill_seconds REAL NOT NULL,
            prefill_tokens_per_second REAL NOT NULL,
            decode_tokens_per_second REAL NOT NULL,
            time_to_first_token REAL NOT NULL,
            total_seconds REAL NOT NULL,
            new_tokens INTEGER NOT NULL,
            rss_after INTEGER,
            PRIMARY KEY (run_id, repeat)
        );
        CREATE TABLE output (
            run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
            repeat INTEGER NOT NULL,
            text TEXT,
            token_ids TEXT NOT NULL,
            PRIMARY KEY (run_id, repeat)
        );
        CREATE TABLE environment (
            run_id INTEGER PRIMARY KEY REFERENCES run(id) ON DELETE CASCADE,
            cpu_model TEXT NOT NULL,
            cpu_flags TEXT NOT NULL,
            cores INTEGER NOT NULL,
            memory_bytes INTEGER NOT NULL,
            os TEXT NOT NULL,
            hostname TEXT NOT NULL,
            exprun_version TEXT NOT NULL,
            git_commit TEXT,
            model_files TEXT NOT NULL,
            experiment_sha256 TEXT NOT NULL
        );
        """,
        // 2: the keys of the experiment's current plan, so a report shows the runs of the file as it
        // is now while runs made under earlier settings stay in the database.
        "ALTER TABLE experiment ADD COLUMN plan_keys TEXT",
        // 3: why tensors were stored in another format than asked (JSON array of lines).
        "ALTER TABLE run ADD COLUMN weight_notes TEXT",
        // 4: interleaved rounds. A run's repeats are measured in rounds, each in its own process:
        // (run, round) is what a round stores and what importing a shard replaces, and
        // (run, round, repeat) names a repeat. Per repeat, the CPU time this process used, the busy
        // CPU time of the whole machine (all cores) and the steal time over the same window, and the
        // machine's core count, so repeats during which others had the cores can be recognised.
        // Runs stored before are their own round 0.
        """
        CREATE TABLE run_round (
            run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
            round INTEGER NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            stderr_tail TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            load_seconds REAL,
            memory_source TEXT,
            rss_before_load INTEGER,
            rss_after_load INTEGER,
            anon_after_load INTEGER,
            file_after_load INTEGER,
            peak_rss INTEGER,
            rss_after_generate INTEGER,
            rss_after_unload INTEGER,
            anon_after_unload INTEGER,
            file_after_unload INTEGER,
            PRIMARY KEY (run_id, round)
        );
        INSERT INTO run_round SELECT id, 0, status, error, stderr_tail, started_at, finished_at, load_seconds, memory_source,
            rss_before_load, rss_after_load, anon_after_load, file_after_load, peak_rss, rss_after_generate,
            rss_after_unload, anon_after_unload, file_after_unload FROM run;
        ALTER TABLE measurement ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE measurement ADD COLUMN cpu_seconds REAL;
        ALTER TABLE measurement ADD COLUMN machine_busy_seconds REAL;
        ALTER TABLE measurement ADD COLUMN steal_seconds REAL;
        ALTER TABLE measurement ADD COLUMN machine_cpus INTEGER;
        CREATE UNIQUE INDEX measurement_by_round ON measurement(run_id, round, repeat);
        ALTER TABLE output ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
        """,
        // 5: GPTQ / AWQ calibration (JSON of CalibrationRecord: data, checksum, seconds, peak RSS), as
        // the latest round measured it.
        "ALTER TABLE run ADD COLUMN calibration TEXT",
        // 6: where a run was measured on a cluster: the Slurm job (`ARRAY_TASK` for an array task)
        // and the node of each round (rounds of one run can run on different nodes), and of the
        // run's latest round in its environment, so a report can say which node measured what.
        """
        ALTER TABLE run_round ADD COLUMN slurm_job TEXT;
        ALTER TABLE run_round ADD COLUMN slurm_node TEXT;
        ALTER TABLE environment ADD COLUMN slurm_job TEXT;
        ALTER TABLE environment ADD COLUMN slurm_node TEXT;
        """,
        // 7: an encoder run's round (EncoderFigures as JSON: that round's timed repeats per batch
        // size; round 0 also cosine and recall@10 against the baseline); NULL for decoder runs.
        "ALTER TABLE run_round ADD COLUMN encoder TEXT",
        // 8: the memory bandwidth the machine gave right before and right after each repeat (GB/s,
        // BandwidthProbe: the model's decode matrices read with the run's threads) and those
        // matrices' bytes; NULL where not probed (encoders, runs stored before).
        """
        ALTER TABLE measurement ADD COLUMN bandwidth_before REAL;
        ALTER TABLE measurement ADD COLUMN bandwidth_after REAL;
        ALTER TABLE measurement ADD COLUMN bandwidth_bytes INTEGER;
        """,
    ]

    static func migrate(_ queue: DatabaseQueue) throws {
        try queue.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard version <= migrations.count else {
                    throw RunnerError.database(queue.path, "was written by a newer exprun (schema \(version), this one knows \(migrations.count)); upgrade exprun")
                }
                for (i, sql) in migrations.enumerated() where i >= version {
                    try db.execute(sql: sql)
                }
                try db.execute(sql: "PRAGMA user_version = \(migrations.count)")
                return .commit
            }
        }
    }
}
