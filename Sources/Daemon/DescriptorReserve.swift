import Glibc

/// A few file descriptors held in reserve (`/dev/null`), given back when the process runs out.
///
/// Under descriptor exhaustion (`EMFILE`) the daemon waits (its comparisons back off, nothing is
/// judged), but the runtime beneath it must not fail: libdispatch's workqueue monitor (a 1 s timer
/// in swift-corelibs-libdispatch, `src/event/workqueue.c`) opens `/proc/<tid>/stat` for each worker
/// while a queue has work, and crashes the process (`DISPATCH_CLIENT_CRASH`, "registered worker
/// exited prematurely": the SIGILL seen with no descriptor left) when that open fails. Releasing
/// the reserve the moment our own code meets `EMFILE` leaves it room. That room stays the
/// runtime's: the next comparison runs only once the reserve can be taken again (``refill()``), so
/// the daemon's own opens never use it up.
final class DescriptorReserve {
    private var descriptors: [Int32] = []
    let count: Int
    /// Told `true` when the reserve is given back and `false` once it is whole again, at the
    /// moment it happens: the control socket serves only its spare while the reserve is out, so
    /// no client takes the room left to the runtime.
    var onChange: ((_ released: Bool) -> Void)?

    init(count: Int = 4) {
        self.count = count
        refill()
    }

    deinit { release() }

    /// Whether any reserved descriptor is still held (there is something to give back).
    var holdsAny: Bool { !descriptors.isEmpty }

    /// Whether the reserve is short of its count (given back, or not refilled in full).
    var isReleased: Bool { descriptors.count < count }

    /// Closes the reserved descriptors: that many are free for the runtime.
    func release() {
        let wasWhole = !isReleased
        for fd in descriptors { close(fd) }
        descriptors = []
        if wasWhole { onChange?(true) }
    }

    /// Takes the reserve again — only when as many descriptors again are free beyond it, so
    /// refilling near the limit never takes the runtime's last ones.
    func refill() {
        var opened: [Int32] = []
        while descriptors.count + opened.count < count * 2 {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { break }
            opened.append(fd)
        }
        guard descriptors.count + opened.count >= count * 2 else {
            for fd in opened { close(fd) }
            return
        }
        let wasReleased = isReleased
        let keep = count - descriptors.count
        descriptors += opened.prefix(keep)
        for fd in opened.dropFirst(keep) { close(fd) }
        if wasReleased, !isReleased { onChange?(false) }
    }
}
