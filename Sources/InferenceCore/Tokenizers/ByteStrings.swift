// Many short byte strings (what each token of a vocabulary decodes to) in one array with offsets.
// A vocabulary is a fixed cost beside every model: as separate [UInt8] arrays, one heap object per
// token, it held 13 MiB more for Gemma 3's 262k tokens (resident after load, measured).
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
