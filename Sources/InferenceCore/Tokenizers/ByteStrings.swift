// Many short byte strings (what each token of a vocabulary decodes to) in one array with offsets,
// and a hash table from byte strings to ids that looks up a range of bytes in place.
// A vocabulary is a fixed cost beside every model: as separate [UInt8] arrays, one heap object per
// token, it held 13 MiB more for Gemma 3's 262k tokens (resident after load, measured).
import Foundation
struct ByteStrings: Sendable {
    private var bytes: [UInt8] = []
    private var starts: [Int32] = [0]

    init(capacity: Int = 0) { starts.reserveCapacity(capacity + 1) }

    var count: Int { starts.count - 1 }

    mutating func append<S: Sequence>(_ s: S) where S.Element == UInt8 {
        bytes.append(contentsOf: s)
        starts.append(Int32(bytes.count))
    }

    subscript(i: Int) -> ArraySlice<UInt8> { bytes[Int(starts[i])..<Int(starts[i + 1])] }
}

/// Open-addressing hash table from byte strings to ids that looks up a byte range in place,
/// without building a key (the merge loop looks up millions of candidate pairs).
struct ByteStringTable: Sendable {
    private let storage: [UInt8]
    private let starts: [Int32]
    private let lengths: [Int32]
    private let slots: [Int32]            // index into the keys, -1 empty
    private let mask: Int

    /// Keys by id; a key listed twice maps to its last id (as llama.cpp's token_to_id).
    init(_ keys: [[UInt8]]) {
        var storage: [UInt8] = []
        var starts: [Int32] = [], lengths: [Int32] = []
        storage.reserveCapacity(keys.reduce(0) { $0 + $1.count })
        for k in keys {
            starts.append(Int32(storage.count)); lengths.append(Int32(k.count))
            storage.append(contentsOf: k)
        }
        var size = 16
        while size < keys.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        storage.withUnsafeBufferPointer { s in
            for (id, k) in keys.enumerated() {
                var h = Int(truncatingIfNeeded: Self.hash(k.withUnsafeBufferPointer { $0.baseAddress }, k.count)) & mask
                while true {
                    let slot = slots[h]
                    if slot < 0 { slots[h] = Int32(id); break }
                    let len = Int(lengths[Int(slot)])
                    if len == k.count, k.withUnsafeBufferPointer({ kb in
                        len == 0 || memcmp(kb.baseAddress!, s.baseAddress! + Int(starts[Int(slot)]), len) == 0
                    }) { slots[h] = Int32(id); break }
                    h = (h + 1) & mask
                }
            }
        }
        self.storage = storage; self.starts = starts; self.lengths = lengths; self.slots = slots; self.mask = mask
    }

    static func hash(_ p: UnsafePointer<UInt8>?, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325      // FNV-1a
        guard let p else { return h }
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
        return h
    }

    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        var h = Int(truncatingIfNeeded: Self.hash(p, n)) & mask
        return storage.withUnsafeBufferPointer { s in
            while true {
                let slot = slots[h]
                if slot < 0 { return -1 }
                if Int(lengths[Int(slot)]) == n, n == 0 || memcmp(p, s.baseAddress! + Int(starts[Int(slot)]), n) == 0 {
                    return slot
                }
                h = (h + 1) & mask
            }
        }
    }

    func lookup(_ key: [UInt8]) -> Int32 {
        key.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return -1 }
            return lookup(base, key.count)
        }
    }
}
