import Testing
@testable import Failsafe

@Suite struct PriorityAdmissionTests {
    typealias Admission = PriorityAdmission<TestClock>

    /// Offers `perSecond` calls of each priority, evenly over `seconds`, at `capacity` calls/s;
    /// returns how many of each were admitted.
    static func run(_ admission: inout Admission, capacity: Double?, perSecond: [Priority: Int], seconds: Int, from start: Double = 0) -> [Priority: Int] {
        var admitted: [Priority: Int] = [:]
        let slots = 1_000
        for slot in 0..<(slots * seconds) {
            let now = at(start + Double(slot) / Double(slots))
            for priority in Priority.allCases {
                let rate = perSecond[priority] ?? 0
                // `rate` calls per second, spread over the slots.
                guard rate > 0, (slot * rate) / slots != ((slot + 1) * rate) / slots else { continue }
                if admission.admit(priority, capacity: capacity, now: now) == .admit { admitted[priority, default: 0] += 1 }
            }
        }
        return admitted
    }

    @Test func unknownCapacityShedsNothing() {
        var admission = Admission()
        let admitted = Self.run(&admission, capacity: nil, perSecond: [.bulk: 500, .critical: 50], seconds: 2)
        #expect(admitted[.bulk] == 1_000 && admitted[.critical] == 100)
    }

    @Test func underCapacityEveryoneIsAdmitted() {
        var admission = Admission()
        let admitted = Self.run(&admission, capacity: 100, perSecond: [.bulk: 40, .normal: 20, .critical: 20], seconds: 3)
        #expect(admitted[.bulk] == 120 && admitted[.normal] == 60 && admitted[.critical] == 60)
    }

    /// Over capacity, critical calls keep what they need, and bulk is shed before normal.
    @Test func overCapacityBulkIsShedFirstThenNormalAndCriticalIsKept() {
        var admission = Admission()
        let admitted = Self.run(&admission, capacity: 100, perSecond: [.bulk: 300, .normal: 60, .critical: 40], seconds: 10)
        #expect(admitted[.critical] == 400, "every critical call")
        #expect(admitted[.normal]! >= 560, "normal calls fit in what critical leaves: \(admitted[.normal]!)")
        #expect(admitted[.bulk]! <= 80, "bulk gets only the start's burst beyond the capacity: \(admitted[.bulk]!)")
        #expect(admitted.values.reduce(0, +) <= 100 * 10 + 100, "no more than the capacity (and one window) in all")
    }

    /// Critical calls are never shed, even in a burst beyond the capacity (they wait for upstream
    /// tokens instead), and a burst of them leaves nothing for bulk.
    @Test func criticalIsNeverShed() {
        var admission = Admission()
        for _ in 0..<500 { #expect(admission.admit(.critical, capacity: 10, now: at(1)) == .admit) }
        #expect(admission.admit(.bulk, capacity: 10, now: at(1)) != .admit)
        #expect(admission.admit(.normal, capacity: 10, now: at(1)) != .admit)
    }

    /// A lower class may use all the capacity when nobody more important needs it.
    @Test func bulkAloneMayUseTheWholeCapacity() {
        var admission = Admission()
        let admitted = Self.run(&admission, capacity: 100, perSecond: [.bulk: 300], seconds: 10)
        #expect(admitted[.bulk]! >= 950 && admitted[.bulk]! <= 1_100, "\(admitted[.bulk]!)")
    }

    /// When capacity drops (a domain goes down), shedding starts at once; a shed call learns when to retry.
    @Test func aDropInCapacitySheds() {
        var admission = Admission()
        _ = Self.run(&admission, capacity: 300, perSecond: [.bulk: 200], seconds: 2)
        let after = Self.run(&admission, capacity: 50, perSecond: [.bulk: 200, .critical: 30], seconds: 4, from: 2)
        #expect(after[.critical] == 120)
        #expect(after[.bulk]! <= 4 * 20 + 50, "bulk gets what critical leaves: \(after[.bulk]!)")
        guard case .shed(let retryAfter) = admission.admit(.bulk, capacity: 50, now: at(6)) else {
            Issue.record("bulk admitted at full load")
            return
        }
        #expect(retryAfter > .zero && retryAfter <= .seconds(1))
    }
}
