// A fixed-length array of plain values in a weight's Storage (`Storage(weightBytes:)`: on 2 MB pages,
// see WeightArena), for formats whose codes used to be Swift arrays (bitsandbytes' packed 4-bit
// codes and int8 CB): a Swift array's buffer comes from malloc, on 4 KB pages.
import Foundation

public struct WeightArray<Element: BitwiseCopyable>: RandomAccessCollection, @unchecked Sendable {
    let storage: Storage
    public let count: Int

    /// `count` copies of `value`.
    public init(repeating value: Element, count: Int) {
        self.count = count
        storage = Storage(weightBytes: count * MemoryLayout<Element>.stride)
        storage.base.initializeMemory(as: Element.self, repeating: value, count: count)
    }

    /// The elements, writable while the owner fills them in (before anyone reads them).
    var mutableBase: UnsafeMutablePointer<Element> { storage.base.assumingMemoryBound(to: Element.self) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Element {
        precondition(i >= 0 && i < count, "index \(i) out of 0..<\(count)")
        return mutableBase[i]
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: mutableBase, count: count))
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: count * MemoryLayout<Element>.stride))
    }

    public static func == (a: WeightArray, b: [Element]) -> Bool where Element: Equatable { a.elementsEqual(b) }
}

extension WeightArray: Equatable where Element: Equatable {
    public static func == (a: WeightArray, b: WeightArray) -> Bool { a.elementsEqual(b) }
}
