import Testing

/// Every end-to-end suite that runs the real daemon against the emulator, one test at a time.
///
/// On a 2-core machine a dozen daemons, their emulators and the process spawns of the other
/// suites, all at once, turn timing assertions (flush answers within a second, a quota reset
/// crossed within seconds) into coin flips. The suites run one after another inside this
/// serialized parent; the unit suites still run in parallel beside them.
@Suite(.serialized) enum EndToEnd {}
