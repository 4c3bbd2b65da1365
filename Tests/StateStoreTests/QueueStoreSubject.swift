import FleetStore
import PostgresNIO
import StateStore

extension QueueStoreTests {
    /// A fresh store and the store-neutral ways the contract tests set up and inspect its rows,
    /// each written once per store: through the SQLite file's `Database`, or through SQL of our
    /// own on the PostgreSQL store's client (scoped to its site).
    struct Subject {
        enum Backend {
            /// The directory's owner keeps the file alive.
            case sqlite(TemporaryDirectory, StateDatabase)
            case postgres(PostgresQueueStore)
        }

        let store: any QueueStore
        let backend: Backend

        /// Queues `urls` (area "", no path) through the store's own unit, as detection does.
        func enqueue(_ urls: [String], kind: QueueKind, nowMilliseconds: Int64) async throws {
            _ = try await store.enqueue(
                urls.map { NewQueueRow(url: $0, area: "", path: nil, kind: kind) }, nowMilliseconds: nowMilliseconds)
        }

        /// Every row's (id, url, state).
        func rows() async throws -> [(id: Int64, url: String, state: QueueState)] {
            switch backend {
            case .sqlite(_, let db):
                return try QueueState.allCases.flatMap { state in
                    try db.read { try $0.queueRows(state: state) }.map { ($0.id, $0.url, $0.state) }
                }
            case .postgres(let store):
                var rows: [(id: Int64, url: String, state: QueueState)] = []
                let sequence = try await store.client.query("SELECT id, url, state FROM queue WHERE site = \(store.site)")
                for try await (id, url, state) in sequence.decode((Int64, String, String).self) {
                    rows.append((id, url, QueueState(rawValue: state) ?? .failed))
                }
                return rows
            }
        }

        /// Each URL's state; when a URL has several rows, the state latest in `QueueState`'s
        /// order wins (then the oldest row), the same for every store.
        func rowStates() async throws -> [String: QueueState] {
            let order = Dictionary(uniqueKeysWithValues: QueueState.allCases.enumerated().map { ($1, $0) })
            let sorted = try await rows().sorted { a, b in
                order[a.state]! != order[b.state]! ? order[a.state]! < order[b.state]! : a.id > b.id
            }
            var states: [String: QueueState] = [:]
            for row in sorted { states[row.url] = row.state }
            return states
        }

        func queueCount(state: QueueState) async throws -> Int {
            try await rows().filter { $0.state == state }.count
        }

        /// The failures `failures` would report (failed rows).
        func failureCount() async throws -> Int {
            switch backend {
            case .sqlite(_, let db): return try db.read { try $0.failures(limit: 10_000) }.count
            case .postgres: return try await queueCount(state: .failed)
            }
        }

        /// One retry counted on a row and the error written (SQLite's `requeue` on a pending row).
        func requeue(id: Int64, errorCode: String) async throws {
            switch backend {
            case .sqlite(_, let db):
                try db.transaction { try $0.requeue(id: id, errorCode: errorCode) }
            case .postgres(let store):
                try await store.client.query(
                    "UPDATE queue SET retries = retries + 1, error_code = \(errorCode) WHERE site = \(store.site) AND id = \(id)")
            }
        }
    }
}
