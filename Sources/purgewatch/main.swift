import Dispatch
import PurgewatchCLI

// The shipped binary: the CLI as it is, nothing adjusted (Tests/Harness runs the same CLI with
// the end-to-end tests' timings). prepareProcess runs here, on the main thread, before any other.
PurgeWatch.prepareProcess()

// Not `await` at the top level: an async main makes the main thread call dispatch_main(), which
// ends it with pthread_exit, whose forced unwinding looks up the unwind tables of every frame on
// the way: ≈ 1 MiB of .eh_frame_hdr, .eh_frame and libgcc's unwinder brought in once and
// resident for good (issue 23). The main thread waits for the command instead; nothing in
// purgewatch runs on the main queue or the main actor. (A command that exits with a status
// calls exit(3) itself; one that returns has succeeded.) The one unstructured task in the
// package, on purpose: it is the program's root, and the main thread is not part of the
// cooperative pool.
let finished = DispatchSemaphore(value: 0)
Task.detached {
    await PurgeWatch.runAsRoot()
    finished.signal()
}
finished.wait()
