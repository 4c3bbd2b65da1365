import Crypto
import Foundation

/// Remembers the last derived TC3 signing key (it changes once a day per key), so that signing a
/// request costs one HMAC instead of four. Shows nothing when printed or reflected.
final class SigningKeyCache: @unchecked Sendable, CustomReflectable {
    private struct Entry {
        var secretKey: Secret
        var date: String
        var service: String
        var key: SymmetricKey
    }

    private let lock = NSLock()
    private var entry: Entry?

    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

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
