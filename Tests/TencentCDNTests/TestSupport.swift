import AsyncHTTPClient
import Foundation
import Logging
import TencentCDN
import TencentEmulator

/// Collects every log line (message and metadata) in memory, for assertions and secret scans.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    final class Store: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) {
            lock.lock()
            lines.append(line)
            lock.unlock()
        }
        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return lines
        }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(store: Store) {
        self.store = store
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        store.append("\(event.level) \(event.message) \(fields)")
    }
}

func makeCapturingLogger() -> (Logger, CapturingLogHandler.Store) {
    let store = CapturingLogHandler.Store()
    let logger = Logger(label: "test") { _ in CapturingLogHandler(store: store) }
    return (logger, store)
}

/// A logger that drops everything (tests never use the global bootstrap).
let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// A fast retry policy for tests (milliseconds, not seconds).
let fastRetry = RetryPolicy(baseDelay: .milliseconds(5), maxDelay: .milliseconds(40), maxAttempts: 30)

/// Runs `body` with a started emulator and an HTTP client, and tears both down.
func withEmulator<R>(
    _ configuration: EmulatorConfiguration = EmulatorConfiguration(),
    _ body: (TencentEmulator, HTTPClient) async throws -> R
) async throws -> R {
    let emulator = try await TencentEmulator.start(configuration)
    let http = TencentCDNClient.makeHTTPClient(connectTimeout: .seconds(2))
    do {
        let result = try await body(emulator, http)
        try await http.shutdown()
        await emulator.shutdown()
        return result
    } catch {
        try? await http.shutdown()
        await emulator.shutdown()
        throw error
    }
}

func makeClient(
    _ emulator: TencentEmulator,
    _ http: HTTPClient,
    logger: Logger = quietLogger,
    credentials: (any CredentialProvider)? = nil,
    requestsPerSecond: Double = 1000,
    retryPolicy: RetryPolicy = fastRetry,
    requestTimeout: Duration = .seconds(5),
    now: @escaping @Sendable () -> Date = { Date() },
    service: TencentCloudService = .cdn
) throws -> TencentCDNClient {
    try TencentCDNClient(
        service: service,
        endpoint: emulator.endpoint,
        credentials: credentials
            ?? StaticCredentialProvider(
                Credentials(secretId: emulator.secretId, secretKey: Secret(emulator.secretKey))
            ),
        requestsPerSecond: requestsPerSecond,
        httpClient: http,
        logger: logger,
        retryPolicy: retryPolicy,
        requestTimeout: requestTimeout,
        now: now
    )
}

func deadline(_ seconds: Double = 20) -> ContinuousClock.Instant {
    .now + .seconds(seconds)
}

/// A wall clock the test moves by hand.
final class ManualWallClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Date
    init(_ start: Date) { value = start }
    var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set(_ date: Date) {
        lock.lock()
        value = date
        lock.unlock()
    }
}

/// Instants recorded from any task.
final class SendLog: @unchecked Sendable {
    private let lock = NSLock()
    private var instants: [ContinuousClock.Instant] = []
    func append(_ instant: ContinuousClock.Instant) {
        lock.lock()
        instants.append(instant)
        lock.unlock()
    }
    var all: [ContinuousClock.Instant] {
        lock.lock()
        defer { lock.unlock() }
        return instants
    }
}
