import Crypto
import Foundation

/// Remembers the last derived TC3 signing key (it changes once a day per key), so that signing a
/// request costs one HMAC instead of four, and the last scope date string. Shows nothing when printed or reflected.
final class SigningKeyCache: @unchecked Sendable, CustomReflectable {
    private struct Entry {
        var secretKey: Secret
        var date: String
        var service: String
        var key: SymmetricKey
    }

    private let lock = NSLock()
    private var entry: Entry?
    private var day: (number: Int64, text: String)?

    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    /// `YYYY-MM-DD` of the UTC day of `timestamp`, remembered for the last day asked.
    func date(fromUnixSeconds timestamp: Int64) -> String {
        let number = UTCDate.floorDiv(timestamp, 86_400)
        lock.lock()
        if let day, day.number == number {
            lock.unlock()
            return day.text
        }
        lock.unlock()
        let text = UTCDate.string(fromUnixSeconds: timestamp)
        lock.lock()
        day = (number, text)
        lock.unlock()
        return text
    }

    func key(secretKey: Secret, date: String, service: String, derive: () -> SymmetricKey) -> SymmetricKey {
        lock.lock()
        if let entry, entry.date == date, entry.service == service, entry.secretKey == secretKey {
            lock.unlock()
            return entry.key
        }
        lock.unlock()
        let key = derive()
        lock.lock()
        entry = Entry(secretKey: secretKey, date: date, service: service, key: key)
        lock.unlock()
        return key
    }
}
