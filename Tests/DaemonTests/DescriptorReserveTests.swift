import Testing

@testable import Daemon

/// The reserve says when it is given back and when it is whole again, once each, at the moment
/// it happens: the control socket follows it (only its spare is served while the reserve is out).
@Suite struct DescriptorReserveTests {
    @Test func itSaysOnceWhenReleasedAndOnceWhenWholeAgain() {
        let reserve = DescriptorReserve(count: 2)
        var told: [Bool] = []
        reserve.onChange = { told.append($0) }
        #expect(!reserve.isReleased)
        reserve.refill()
        #expect(told.isEmpty, "must not: whole already, nothing to say")
        reserve.release()
        #expect(told == [true])
        reserve.release()
        #expect(told == [true], "must not: said again while released")
        reserve.refill()
        #expect(told == [true, false])
        #expect(!reserve.isReleased)
    }
}
