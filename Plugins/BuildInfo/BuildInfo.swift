// Puts the git commit exprun is built from into the build, so `exprun --version` and every stored
// run name the code that actually ran, whatever happens to the checkout afterwards. A prebuild
// command (run before every build) writes `BuildInfo.swift` — `BuildInfo.commit`, the full hash,
// `+dirty` when tracked files differ from it — into the plugin's work folder, rewriting it only when
// that changed, so an unchanged tree recompiles nothing. Without git or outside a checkout (a source
// archive) the commit is "unknown".
import Foundation
import PackagePlugin

@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        // `--no-optional-locks`: status must not write the index (plugins may run sandboxed).
        let script = #"""
            src=$1; out=$2; mkdir -p "$out"
            commit=$(git -C "$src" rev-parse HEAD 2>/dev/null) || commit=unknown
            if [ "$commit" != unknown ] && [ -n "$(git --no-optional-locks -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
              commit="$commit+dirty"
            fi
            text="// Written by Plugins/BuildInfo before each build (not in git).
            public enum BuildInfo {
                /// The git commit exprun was built from (\"+dirty\": with uncommitted changes), or \"unknown\".
                public static let commit = \"$commit\"
            }"
            [ -f "$out/BuildInfo.swift" ] && [ "$(cat "$out/BuildInfo.swift")" = "$text" ] || printf '%s\n' "$text" > "$out/BuildInfo.swift"
            """#
        return [.prebuildCommand(
            displayName: "BuildInfo: git commit of the source tree",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "sh", context.package.directoryURL.path, out.path],
            outputFilesDirectory: out)]
    }
}
