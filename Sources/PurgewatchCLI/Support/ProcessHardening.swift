import CProcess
import Glibc
import TencentCDN

/// What `run` does to its own process before it holds secrets for days (SPEC §6: secrets never
/// appear anywhere): no core dumps and no ptrace by other users, and no credential left in the
/// process environment.
enum ProcessHardening {
    /// `prctl(PR_SET_DUMPABLE, 0)`: no core dump, `/proc/PID/{mem,environ}` closed to other
    /// users, no ptrace attach by an unprivileged user. Returns whether it took.
    @discardableResult
    static func makeNonDumpable() -> Bool {
        purgewatch_set_nondumpable() == 0 && purgewatch_get_dumpable() == 0
    }

    /// Whether the process is dumpable now (`PR_GET_DUMPABLE`).
    static var isDumpable: Bool { purgewatch_get_dumpable() != 0 }

    /// Overwrites the values of the credential variables in the process's environment block with
    /// zero bytes (so `/proc/PID/environ` and memory no longer hold them), then unsets them.
    static func scrubCredentialsFromEnvironment() {
        for name in EnvironmentCredentials.variables {
            let prefix = Array((name + "=").utf8)
            var entry = environ
            while let pointer = entry.pointee {
                if strncmp(pointer, prefix.map { CChar(bitPattern: $0) } + [0], prefix.count) == 0 {
                    let value = pointer + prefix.count
                    memset(value, 0, strlen(value))
                }
                entry += 1
            }
            unsetenv(name)
        }
    }
}
