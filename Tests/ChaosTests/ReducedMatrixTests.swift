import Chaos
import Simnet
import Testing

/// A reduced chaos matrix for CI: the faults that most often hit real providers, every call class,
/// one face and a whole region. Every cell must show 0 failed calls, 0 wrong answers, 0 lost transactions.
@Suite(.serialized) struct ReducedMatrixTests {
    @Test(arguments: [Fault.down, .stall, .lie, .garbage, .reset])
    func cellsWithAHealthyDomainNeverFail(fault: Fault) async throws {
        let cells = try await ChaosMatrix.run(faults: [fault], radii: [.oneFace, .oneDomain], calls: 12)
        #expect(cells.count == CallClass.allCases.count * 2)
        for cell in cells {
            #expect(cell.calls == 12)
            #expect(cell.failures == 0 && cell.wrong == 0 && cell.lostTransactions == 0,
                    "\(fault) × \(cell.callClass.rawValue) × \(cell.radius.rawValue): \(cell.failures) failed, \(cell.wrong) wrong, \(cell.lostTransactions) lost — \(cell.examples)")
        }
    }
}
