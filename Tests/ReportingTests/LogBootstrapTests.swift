import Glibc
import Logging
import Testing

@testable import Reporting

@Suite struct LogBootstrapTests {
    @Test(arguments: [
        ("64769:1234", true), ("64769:1235", false), ("64768:1234", false), ("64769", false), ("", false),
        ("64769:1234:5", false), ("x:1234", false), (" 64769:1234", false), ("64769:", false),
    ])
    func journalStreamParsing(value: String, matches: Bool) {
        #expect(LogBootstrap.journalStream(value, matchesDevice: 64769, inode: 1234) == matches)
    }

    /// What stderr is right now, as systemd would write it into `JOURNAL_STREAM`.
    private func stderrIdentity() throws -> String {
        var status = stat()
        try #require(fstat(2, &status) == 0)
        return "\(status.st_dev):\(status.st_ino)"
    }

    @Test func journaldWhenJournalStreamNamesStderr() throws {
        let environment = ["JOURNAL_STREAM": try stderrIdentity()]
        #expect(LogBootstrap.destination(environment: environment) == .journald)
        let handler = LogBootstrap.make(environment: environment)("purgewatch")
        let journald = try #require(handler as? JournaldLogHandler)
        #expect(journald.identifier == "purgewatch")
        #expect(journald.label == "purgewatch")
    }

    @Test func stderrWhenJournalStreamNamesSomethingElse() throws {
        let identity = try stderrIdentity()
        let otherInode = identity.split(separator: ":").first.map { "\($0):1" } ?? "0:1"
        #expect(LogBootstrap.destination(environment: ["JOURNAL_STREAM": otherInode]) == .stderr)
        #expect(LogBootstrap.make(environment: ["JOURNAL_STREAM": otherInode])("l") is StderrLogHandler)
    }

    @Test func stderrWithoutJournalStream() {
        #expect(LogBootstrap.destination(environment: [:]) == .stderr)
        let handler = LogBootstrap.make(environment: [:], logLevel: .debug)("purgewatch")
        #expect(handler is StderrLogHandler)
        #expect(handler.logLevel == .debug)
    }

    @Test func theEnvironmentReaderReadsOnlySystemdsVariables() {
        #expect(
            SystemdEnvironment.variableNames == ["JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"])
        #expect(Set(SystemdEnvironment.current().keys).isSubset(of: SystemdEnvironment.variableNames))
    }
}
