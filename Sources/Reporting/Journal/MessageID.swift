import Logging

/// The fixed journald `MESSAGE_ID`s of purgewatch's key events (SPEC §7).
///
/// Each is 128 random bits as 32 lower-case hex digits, generated once and never changed: they are
/// an interface, filtered on with `journalctl MESSAGE_ID=…` and explained by the catalog in
/// `systemd/purgewatch.catalog`. Put one on a log call with ``metadataKey``:
///
/// ```swift
/// logger.info("submitted batch", metadata: MessageID.batchSubmitted.metadata(["purge.task_id": "\(taskID)"]))
/// logger.info("submitted batch", metadata: ["message_id": "\(MessageID.batchSubmitted)", ...])
/// ```
///
/// See [systemd.journal-fields(7)](https://www.freedesktop.org/software/systemd/man/systemd.journal-fields.html#MESSAGE_ID=).
public enum MessageID: String, CaseIterable, Sendable, CustomStringConvertible {
    /// A purge batch was accepted by the API (has a TaskId).
    case batchSubmitted = "d4b9d65ff1384c229ace8dd39c3990cd"
    /// DescribePurgeTasks reported a batch `done`.
    case batchDone = "e9e4b0ac06f44fb7ae03ef8b60979995"
    /// A batch failed: a permanent API error, or `fail` from DescribePurgeTasks.
    case batchFailed = "7b339796ea8843d2b4b6037ebabfe035"
    /// The day's purge quota cannot cover the queue; URLs wait for the reset.
    case quotaExhausted = "62b65a58a637482db44d40416051841d"
    /// The event stream was lost (IN_Q_OVERFLOW, watch limit, downtime) and a full walk recovered.
    case outOfSyncRecovered = "86ff724dccbd49aa878c74a6b69139eb"
    /// inotify's `max_user_watches` was reached; part of the tree is not watched.
    case watchLimitReached = "54f0fc06b1444d70b0b9b85427bd4c33"
    /// The configuration was reloaded (SIGHUP).
    case configReloaded = "48825ed0eaac4b469195cf15a53c3790"

    /// The swift-log metadata key whose value becomes the `MESSAGE_ID` field.
    public static let metadataKey = "message_id"

    /// The 32 lower-case hex digits.
    public var description: String { rawValue }

    /// `metadata` with this ID added under ``metadataKey``.
    public func metadata(_ metadata: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = metadata
        metadata[Self.metadataKey] = .string(rawValue)
        return metadata
    }

    /// Whether `value` has the form journald expects of a `MESSAGE_ID`: 32 lower-case hex digits.
    public static func isWellFormed(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        return bytes.count == 32
            && bytes.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
