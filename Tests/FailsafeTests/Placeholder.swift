import Testing
@testable import Failsafe
