import PurgeCore

/// Coalesces `IN_MODIFY`: a file being written reports one touched path per burst, not one per
/// `write(2)`.
///
/// A write that the watcher reads starts a hold on its path (or joins the hold already
/// running); when the hold ends, ``interval`` after it started, the path is delivered once. So the
/// throttle is trailing-edge: every write is followed by a delivery that comes after it (a write
/// after a delivery starts a new hold), and a file written without pause is delivered once per
/// interval, never starved. Any other event that delivers the path (`IN_CLOSE_WRITE`, a rename, a
/// delete: ``delivered(_:)``) ends its hold, since that delivery comes after every write read so
/// far; a barrier takes every hold at once (``takeAll()``). With no hold there is no deadline, so
/// the reader sleeps at rest.
///
/// Time is an input (monotonic nanoseconds): tested without sleeping.
struct ModifyThrottle: Sendable {
    /// How long a hold lasts, in nanoseconds.
    let interval: UInt64
    /// Each held path and the deadline of its hold.
    private var held: [RelativePath: UInt64] = [:]
    /// Holds in the order they started, which is the order of their deadlines (one interval for
    /// all). An entry whose path is no longer held with that deadline is stale and skipped.
    private var order: [(path: RelativePath, deadline: UInt64)] = []
    private var head = 0

    init(interval: UInt64) {
        self.interval = interval
    }

    var isEmpty: Bool { held.isEmpty }
    var count: Int { held.count }

    /// A write to `path` was read at `now`.
    mutating func modified(_ path: RelativePath, now: UInt64) {
        guard held[path] == nil else { return }
        let deadline = now &+ interval
        held[path] = deadline
        order.append((path, deadline))
    }

    /// These paths are being delivered now by other events: their holds are covered.
    mutating func delivered(_ paths: Set<RelativePath>) {
        guard !held.isEmpty else { return }
        if paths.count <= held.count {
            for path in paths { held[path] = nil }
        } else {
            held = held.filter { !paths.contains($0.key) }
        }
        if held.isEmpty { clearOrder() }
    }

    /// The paths whose hold has ended by `now`: deliver them now.
    mutating func due(now: UInt64) -> [RelativePath] {
        var due: [RelativePath] = []
        while head < order.count, order[head].deadline <= now {
            let (path, deadline) = order[head]
            head += 1
            if held[path] == deadline {
                held[path] = nil
                due.append(path)
            }
        }
        compact()
        return due
    }

    /// The earliest deadline of a hold, or `nil` when nothing is held.
    mutating func nextDeadline() -> UInt64? {
        while head < order.count, held[order[head].path] != order[head].deadline { head += 1 }
        compact()
        return head < order.count ? order[head].deadline : nil
    }

    /// Every held path (a barrier delivers them before it answers).
    mutating func takeAll() -> [RelativePath] {
        let all = Array(held.keys)
        held = [:]
        clearOrder()
        return all
    }

    private mutating func clearOrder() {
        order.removeAll(keepingCapacity: order.count <= 1024)
        head = 0
    }

    private mutating func compact() {
        if held.isEmpty {
            clearOrder()
        } else if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
