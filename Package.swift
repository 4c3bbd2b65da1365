// swift-tools-version:6.0
import PackageDescription

// Modules follow the data flow of SPEC §1; see docs/ARCHITECTURE.md.
let package = Package(
    name: "purgewatch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "purgewatch", targets: ["purgewatch"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Executable: the CLI, nothing adjusted.
        .executableTarget(name: "purgewatch", dependencies: ["PurgewatchCLI"]),
        // The commands: argument parsing and exit codes only; the work is in the modules.
        .target(
            name: "PurgewatchCLI",
            dependencies: [
                "PurgeCore", "Daemon", "Operator", "ControlProtocol", "Reporting", "TencentCDN", "StateStore", "CProcess", "FleetStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Pure logic: configuration, path → URL rules. No network, no clock; reads only the config file.
        .target(
            name: "PurgeCore",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]
        ),
        // Tencent Cloud CDN API 3.0 client: TC3 signing, actions, errors, credentials, transport.
        .target(
            name: "TencentCDN",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // prctl(2) and malloc tuning, which Swift's Glibc module does not import (non-dumpable
        // daemon; one malloc arena, freed pages returned after a large comparison).
        .target(name: "CProcess"),
        // The only C boundary to SQLite (system libsqlite3).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The state database: migrations, manifest (later: queue, batches).
        .target(name: "StateStore", dependencies: ["CSQLite"]),
        // The fleet's shared state (SPEC §9): the same QueueStore contract on PostgreSQL, one site of
        // several per database; the daemon's queue when `[state] url` is set.
        .target(
            name: "FleetStore",
            dependencies: [
                "StateStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Its pool's errors (a minute without a connection, the pool shut down) are what a
                // unit throws while the database is away: mapped to store trouble.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // inotify watcher, tree walker, change detector.
        .target(
            name: "SiteWatch",
            dependencies: [
                "PurgeCore", "StateStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // journald native protocol LogHandler and sd_notify (no libsystemd).
        .target(
            name: "Reporting",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),

        // The control socket's protocol: typed, versioned commands and answers, one JSON object a
        // line, one codec for both ends. Pure: Foundation's JSON only.
        .target(name: "ControlProtocol"),

        // The daemon: queue, submitter, verifier, the control socket's server — wired from the stages.
        .target(
            name: "Daemon",
            dependencies: [
                "PurgeCore", "TencentCDN", "SiteWatch", "StateStore", "FleetStore", "Reporting", "CProcess", "ControlProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // The operator's side, for the CLI: the control socket's client, status, failures, purge by
        // hand when no daemon runs. The daemon never imports it.
        .target(
            name: "Operator",
            dependencies: ["ControlProtocol", "Daemon", "FleetStore", "PurgeCore", "StateStore", "TencentCDN", "Reporting"]
        ),

        // Test support: the same CLI with the end-to-end tests' timings (scaled, a shifted wall
        // clock) read from PURGEWATCH_TEST_* — the shipped binary reads none of them.
        .executableTarget(name: "purgewatch-harness", dependencies: ["PurgewatchCLI", "Daemon"], path: "Tests/Harness"),
        // Test support: a Tencent CDN API emulator on 127.0.0.1.
        .target(
            name: "TencentEmulator",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TencentEmulator"
        ),
        // Test support: a throwaway PostgreSQL cluster (initdb + postgres on 127.0.0.1) for the
        // store's tests and the fleet's end-to-end tests.
        .target(
            name: "TestPostgres",
            dependencies: [
                "FleetStore", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestPostgres"
        ),
        // Benchmarks (not tests): print figures against baselines; see the scripts in Benchmarks/.
        .executableTarget(
            name: "bench-sitewatch",
            dependencies: ["PurgeCore", "SiteWatch", "StateStore"],
            path: "Benchmarks/SiteWatchBench"
        ),
        .executableTarget(
            name: "bench-tc3",
            dependencies: ["TencentCDN"],
            path: "Benchmarks/SigningBench"
        ),
        .executableTarget(name: "bench-planner", dependencies: ["PurgeCore"], path: "Benchmarks/PlannerBench"),
        .executableTarget(name: "bench-history", dependencies: ["StateStore"], path: "Benchmarks/HistoryBench"),
        .executableTarget(name: "bench-daemon", dependencies: ["TencentEmulator"], path: "Benchmarks/DaemonBench"),
        .executableTarget(name: "bench-idle", path: "Benchmarks/IdleBench"),
        .testTarget(name: "PurgeCoreTests", dependencies: ["PurgeCore"]),
        .testTarget(name: "ControlProtocolTests", dependencies: ["ControlProtocol"]),
        .testTarget(
            name: "TencentCDNTests",
            dependencies: [
                "TencentCDN", "TencentEmulator", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // TC3 reference vectors from the official SDK (SPEC §8: fixtures live in the repository).
            resources: [.copy("Resources/tc3-vectors.json")]
        ),
        .testTarget(
            name: "StateStoreTests",
            dependencies: [
                "StateStore", "FleetStore", "PurgeCore", "TestPostgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "Operator", "ControlProtocol", "StateStore", "PurgeCore", "Reporting", "SiteWatch", "TencentCDN",
                "TencentEmulator", "FleetStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SiteWatchTests", dependencies: ["SiteWatch", "StateStore", "PurgeCore"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "CLITests",
            dependencies: ["purgewatch", "purgewatch-harness", "PurgeCore", "ControlProtocol", "TencentEmulator", "TestPostgres"]),
    ]
)

// The same language mode and upcoming features on every target.
for target in package.targets where target.type != .system && target.name != "CProcess" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
package.swiftLanguageModes = [.v6]
