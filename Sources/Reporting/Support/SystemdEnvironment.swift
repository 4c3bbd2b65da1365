import Glibc

/// The environment variables through which systemd talks to a service, read from the process.
///
/// Only these are read, so the result can be passed around (and replaced in tests) without
/// carrying anything else from the environment, such as credentials.
public enum SystemdEnvironment {
    /// The variables this module looks at: `JOURNAL_STREAM`, `NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`.
    public static let variableNames = ["JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// The current process's values of ``variableNames`` (absent ones are left out).
    public static func current() -> [String: String] {
        var values: [String: String] = [:]
        for name in variableNames {
            if let value = getenv(name) {
                values[name] = String(cString: value)
            }
        }
        return values
    }
}
