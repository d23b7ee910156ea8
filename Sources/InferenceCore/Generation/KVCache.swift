// Keys and values of every position seen so far, per layer, F32. `kvDim` is heads × head size of
// the keys (fewer than the query heads under grouped-query attention).
import Foundation

public final class KVCache {
    public let layers: Int
    public let kvDim: Int
    public let capacity: Int
    public private(set) var length = 0
    public var keys: [UnsafeMutablePointer<Float>]
    public var values: [UnsafeMutablePointer<Float>]

    public init(layers: Int, kvDim: Int, capacity: Int) {
        self.layers = layers; self.kvDim = kvDim; self.capacity = capacity
        keys = (0..<layers).map { _ in .allocate(capacity: capacity * kvDim) }
        values = (0..<layers).map { _ in .allocate(capacity: capacity * kvDim) }
    }

    deinit { for p in keys + values { p.deallocate() } }

    public var byteCount: Int { 2 * layers * capacity * kvDim * 4 }

    /// Room for `count` more positions, or an error naming the limit.
    public func checkRoom(for count: Int) throws {
        guard length + count <= capacity else {
            throw CoreError.invalid("sequence of \(length + count) tokens exceeds the context of \(capacity)")
        }
    }

    /// Called by the model once all layers have written positions `length ..< length + count`.
    public func advance(by count: Int) { length += count }
    public func reset() { length = 0 }
}
