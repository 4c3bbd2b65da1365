import Logging
import ServiceLifecycle

/// `[metrics] listen` as a `Service` that owns its endpoint: bound inside ``run()`` once the
/// control loop holds the state (a bind that fails fails the start: exit 1 before `READY=1`),
/// served on its own event loop, closed when ``run()`` ends. The group shuts it down first.
struct MetricsService: Service {
    let listen: String
    let metrics: DaemonMetrics
    let statePath: String
    let clock: DaemonClock
    let logger: Logger
    let gate: ResourceGate<Void>

    func run() async throws {
        let opened = try await gate.openWhenAllowed {
            do {
                return try await MetricsServer(listen: listen, metrics: metrics, statePath: statePath, clock: clock)
            } catch {
                throw DaemonError.metricsUnavailable("cannot serve metrics on \(listen): \(error)")
            }
        }
        guard let server = opened else { return }
        logger.info("metrics at http://\(listen)/metrics")
        try? await gracefulShutdown()
        await server.stop()
    }
}
