import PurgewatchCLI

// The shipped binary: the CLI as it is, nothing adjusted (Tests/Harness runs the same CLI with
// the end-to-end tests' timings).
await PurgeWatch.runAsRoot()
