import Testing
@testable import ExpRunKit
