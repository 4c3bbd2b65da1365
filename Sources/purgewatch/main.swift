import PurgewatchCLI

// The shipped binary: the CLI as it is, nothing adjusted (Tests/Harness runs the same CLI with
// the end-to-end tests' timings). prepareProcess runs here, on the main thread, before any other.
PurgeWatch.prepareProcess()
await PurgeWatch.runAsRoot()
