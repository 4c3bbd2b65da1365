import Foundation
import Logging
import Testing

@testable import Reporting

@Suite struct MessageIDTests {
    @Test func everyIDIs128BitsInLowerCaseHexAndUnique() {
        #expect(MessageID.allCases.count == 7)
        for id in MessageID.allCases {
            #expect(MessageID.isWellFormed(id.rawValue), "\(id)")
        }
        #expect(Set(MessageID.allCases.map(\.rawValue)).count == MessageID.allCases.count)
    }

    @Test func theIDsAreFixed() {
        // These are an interface (journalctl filters, the catalog): never change one.
        #expect(MessageID.batchSubmitted.rawValue == "d4b9d65ff1384c229ace8dd39c3990cd")
        #expect(MessageID.batchDone.rawValue == "e9e4b0ac06f44fb7ae03ef8b60979995")
        #expect(MessageID.batchFailed.rawValue == "7b339796ea8843d2b4b6037ebabfe035")
        #expect(MessageID.quotaExhausted.rawValue == "62b65a58a637482db44d40416051841d")
        #expect(MessageID.outOfSyncRecovered.rawValue == "86ff724dccbd49aa878c74a6b69139eb")
        #expect(MessageID.watchLimitReached.rawValue == "54f0fc06b1444d70b0b9b85427bd4c33")
        #expect(MessageID.configReloaded.rawValue == "48825ed0eaac4b469195cf15a53c3790")
    }

    @Test(arguments: [
        ("d4b9d65ff1384c229ace8dd39c3990cd", true), ("D4B9D65FF1384C229ACE8DD39C3990CD", false),
        ("d4b9d65f-f138-4c22-9ace-8dd39c3990cd", false), ("d4b9d65ff1384c229ace8dd39c3990c", false),
        ("", false), ("g4b9d65ff1384c229ace8dd39c3990cd", false),
    ])
    func wellFormedness(value: String, valid: Bool) {
        #expect(MessageID.isWellFormed(value) == valid)
    }

    @Test func metadataHelperAddsTheKey() {
        let metadata = MessageID.batchDone.metadata(["purge.task_id": "t-1"])
        #expect(metadata["message_id"] == .string("e9e4b0ac06f44fb7ae03ef8b60979995"))
        #expect(metadata["purge.task_id"] == "t-1")
        #expect("\(MessageID.batchDone)" == "e9e4b0ac06f44fb7ae03ef8b60979995")
    }

    /// The journald catalog shipped in systemd/ explains every ID, and only those.
    @Test func theCatalogListsEveryID() throws {
        let catalog = try String(contentsOfFile: repositoryRoot + "/systemd/purgewatch.catalog", encoding: .utf8)
        let listed = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(listed.sorted() == MessageID.allCases.map(\.rawValue).sorted())
    }
}

/// The repository's root directory (this file is Tests/ReportingTests/…).
let repositoryRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
