import Glibc

/// inotify masks (`IN_*` come from Glibc in mixed integer types; normalised to `UInt32` here).
enum InotifyMask {
    static let closeWrite = UInt32(IN_CLOSE_WRITE)
    static let modify = UInt32(IN_MODIFY)
    static let movedFrom = UInt32(IN_MOVED_FROM)
    static let movedTo = UInt32(IN_MOVED_TO)
    static let create = UInt32(IN_CREATE)
    static let delete = UInt32(IN_DELETE)
    static let deleteSelf = UInt32(IN_DELETE_SELF)
    static let moveSelf = UInt32(IN_MOVE_SELF)
    static let unmount = UInt32(IN_UNMOUNT)
    static let overflow = UInt32(IN_Q_OVERFLOW)
    static let ignored = UInt32(IN_IGNORED)
    static let onlyDir = UInt32(IN_ONLYDIR)
    static let dontFollow = UInt32(IN_DONT_FOLLOW)
    static let exclUnlink = UInt32(IN_EXCL_UNLINK)
    static let isDir = UInt32(IN_ISDIR)

    /// Directories of the tree. Added through `/proc/self/fd/N` of a directory opened with
    /// `O_NOFOLLOW`, so `IN_DONT_FOLLOW` (which would stop at the magic link) is not set there:
    /// the descriptor already guarantees that no symbolic link was followed. `IN_MODIFY` is the
    /// only event of `truncate(2)`, of a `pwrite` through a descriptor kept open and of a writer
    /// that flushes without closing; it is coalesced (``ModifyThrottle``).
    static let tree =
        closeWrite | modify | movedFrom | movedTo | create | delete | deleteSelf | moveSelf | onlyDir | exclUnlink
    /// The directory that holds the root (to see `current` replaced), and while the root is
    /// missing the nearest existing directory on the way to it.
    static let parent =
        movedFrom | movedTo | create | delete | deleteSelf | moveSelf | onlyDir | dontFollow | exclUnlink
}

/// One event as the kernel queued it (inotify(7)): the header's fields and the name's bytes.
///
/// The reader decodes what `read(2)` returned into these (``decode(_:_:)``) and feeds them to
/// ``WatchMachine``; tests feed recorded ones to the machine, or queue them (encoded) in a wrapper
/// of the kernel (``InotifyKernel``) as if the kernel had queued them.
struct RawInotifyEvent: Sendable, Hashable {
    var wd: Int32
    var mask: UInt32
    var cookie: UInt32 = 0
    /// The name within the watched directory, without its NUL padding; empty for an event on the
    /// watched directory itself.
    var name: [UInt8] = []

    /// Decodes every whole event in `bytes` (what one `read(2)` of an inotify descriptor returned).
    ///
    /// Glibc does not import `inotify_event.name`: it starts right after the 16-byte header and is
    /// NUL-padded to `len`.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ body: (RawInotifyEvent) -> Void) {
        var offset = 0
        while offset + 16 <= bytes.count {
            let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            var name: [UInt8] = []
            if length > 0 {
                let start = offset + 16
                let end = min(start + length, bytes.count)
                var stop = start
                while stop < end && bytes[stop] != 0 { stop += 1 }
                name = Array(bytes[start..<stop])
            }
            offset += 16 + length
            body(RawInotifyEvent(wd: wd, mask: mask, cookie: cookie, name: name))
        }
    }
}
