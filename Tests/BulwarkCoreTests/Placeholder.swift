import Testing
@testable import BulwarkCore
