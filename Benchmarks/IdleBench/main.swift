// The floor for `Benchmarks/run.sh`'s at-rest row: a Swift program that does nothing but sleep,
// with the same runtime (Swift concurrency over libdispatch) as the daemon. Whatever it wakes
// for — libdispatch's workqueue monitor is a 1 s timer — every Swift daemon on Linux pays.
try? await Task.sleep(for: .seconds(86_400))
