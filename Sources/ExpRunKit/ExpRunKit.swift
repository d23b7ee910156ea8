// The experiment runner: spec, plan, child-process runs, SQLite store, reports.
import InferenceCore
