// The regular expressions of llama.cpp's pre-tokenizers that it has no hand-written splitter for,
// run as llama.cpp runs them (src/unicode.cpp, `unicode_regex_split`): by C++'s std::regex, whose
// ECMAScript grammar and backtracking search (leftmost match, alternatives in order, greedy
// repetition) this file implements for the subset the patterns use.
//
// std::regex knows nothing of Unicode categories, so llama.cpp first "collapses" the text: a
// codepoint below 128 stays itself, any other becomes one byte standing for its category (0xD1
// number, 0xD2 letter, 0xD3 punctuation, 0xD4 mark, 0xD5 symbol, 0xD0 anything else, 0x0B
// whitespace), and each `\p{X}` in the pattern becomes a class of that byte and the ASCII members of
// X. A pattern without `\p{…}` runs on the codepoints themselves, non-ASCII whitespace again as
// 0x0B. Either way one unit stands for one codepoint, so matches are codepoint ranges.
//
// Splitting keeps everything: each match is a piece, and so is the text between two matches.
import Foundation

struct PreTokenizerRegex: Sendable {
    let pattern: String
    /// Whether the pattern names Unicode categories, so that it runs on the collapsed text.
    let collapsed: Bool
    private let root: Node

    // MARK: Syntax

    /// A set of units: ranges and the ECMAScript classes \d \s \w (and their complements).
    struct UnitSet: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var classes: [(kind: UInt8, negated: Bool)] = []     // kind: d, s or w
        var negated = false
        /// Membership of units below 256 (all of the collapsed text), once the set is complete.
        private var low: [UInt64] = []

        init(ranges: [ClosedRange<UInt32>] = []) { self.ranges = ranges }

        func finished() -> UnitSet {
            var s = self
            s.low = [UInt64](repeating: 0, count: 4)
            for u in 0..<256 where slowContains(UInt32(u)) { s.low[u >> 6] |= 1 << UInt64(u & 63) }
            return s
        }

        @inline(__always) func contains(_ u: UInt32) -> Bool {
            if u < 256, !low.isEmpty { return low[Int(u >> 6)] & (1 << UInt64(u & 63)) != 0 }
            return slowContains(u)
        }

        private func slowContains(_ u: UInt32) -> Bool {
            var hit = false
            for r in ranges where r.contains(u) { hit = true; break }
            if !hit {
                for c in classes where Self.inClass(c.kind, u) != c.negated { hit = true; break }
            }
            return hit != negated
        }

        /// std::regex's classes in the "C" locale: ASCII only (the text's other whitespace is 0x0B).
        static func inClass(_ kind: UInt8, _ u: UInt32) -> Bool {
            switch kind {
            case UInt8(ascii: "d"): return (0x30...0x39).contains(u)
            case UInt8(ascii: "s"): return (0x09...0x0D).contains(u) || u == 0x20
            default: return (0x30...0x39).contains(u) || (0x41...0x5A).contains(u) || (0x61...0x7A).contains(u) || u == 0x5F
            }
        }
    }

    indirect enum Node: Sendable {
        case unit(UnitSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int, greedy: Bool)
        case loop(UnitTest, min: Int, max: Int, greedy: Bool)     // a repetition of a unit test
        case lookahead(Node, negated: Bool)
        case start, end
        case wordBoundary(negated: Bool)
    }

    /// A pattern as llama.cpp's table writes it.
    init(_ pattern: String) throws {
        self.pattern = pattern
        let categories = Self.categoryClasses.keys
        collapsed = categories.contains { pattern.contains($0) }
        let units: [UInt32]
        if collapsed {
            guard pattern.unicodeScalars.allSatisfy({ $0.value < 128 }) else {
                throw CoreError.unsupported("pre-tokenizer regex \(pattern): Unicode categories and non-ASCII characters together (llama.cpp refuses them too)")
            }
            units = Self.collapsePattern(Array(pattern.utf8)).map(UInt32.init)
        } else {
            units = pattern.unicodeScalars.map(\.value)
        }
        var parser = Parser(units: units, pattern: pattern)
        root = Self.optimize(try parser.parse())
    }

    /// `\p{X}` → (the byte standing for X's non-ASCII members, X's ASCII members as class syntax).
    static let categoryClasses: [String: (UInt8, String)] = [
        "\\p{N}": (0xD1, "0-9"),
        "\\p{L}": (0xD2, "A-Za-z"),
        "\\p{P}": (0xD3, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"),
        "\\p{M}": (0xD4, ""),
        "\\p{S}": (0xD5, "\\$\\+<->^`\\|\\~"),
        "\\p{Lu}": (0xD2, "A-Za-z"), "\\p{Ll}": (0xD2, "A-Za-z"), "\\p{Lt}": (0xD2, "A-Za-z"),
        "\\p{Lm}": (0xD2, "A-Za-z"), "\\p{Lo}": (0xD2, "A-Za-z"),
    ]

    /// llama.cpp's rewriting of a pattern for the collapsed text, byte for byte: each known
    /// `\p{X}` becomes `[` byte + ASCII members `]`, without the brackets inside a class.
    static func collapsePattern(_ p: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inside = false
        var i = 0
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "["), i == 0 || p[i - 1] != UInt8(ascii: "\\") {
                out.append(c); inside = true; i += 1; continue
            }
            if inside, c == UInt8(ascii: "]"), p[i - 1] != UInt8(ascii: "\\") {
                out.append(c); inside = false; i += 1; continue
            }
            if c == UInt8(ascii: "\\"), i + 3 < p.count, p[i + 1] == UInt8(ascii: "p"), p[i + 2] == UInt8(ascii: "{"),
               let close = p[(i + 3)...].firstIndex(of: UInt8(ascii: "}")), close <= i + 10,
               let (byte, members) = categoryClasses[String(decoding: p[i...close], as: UTF8.self)] {
                if !inside { out.append(UInt8(ascii: "[")) }
                out.append(byte)
                out.append(contentsOf: members.utf8)
                if !inside { out.append(UInt8(ascii: "]")) }
                i = close + 1
                continue
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// The text as the pattern sees it: collapsed categories, or codepoints with non-ASCII
    /// whitespace as 0x0B.
    func units(of cpts: [UInt32]) -> [UInt32] {
        cpts.map { c in
            if c < 128 { return c }
            let f = UnicodeFlags(c)
            if f.isWhitespace { return 0x0B }
            if !collapsed { return c }
            switch f.category {
            case .number: return 0xD1
            case .letter: return 0xD2
            case .punctuation: return 0xD3
            case .mark: return 0xD4
            case .symbol: return 0xD5
            default: return 0xD0
            }
        }
    }

    private struct Parser {
        let units: [UInt32]
        let pattern: String
        var i = 0

        init(units: [UInt32], pattern: String) { self.units = units; self.pattern = pattern }

        func error(_ why: String) -> CoreError {
            CoreError.unsupported("pre-tokenizer regex \(pattern): \(why) at unit \(i)")
        }
        var atEnd: Bool { i >= units.count }
        func peek(_ k: Int = 0) -> UInt32? { i + k < units.count ? units[i + k] : nil }
        static func ch(_ s: Unicode.Scalar) -> UInt32 { s.value }

        mutating func parse() throws -> Node {
            let n = try disjunction()
            guard atEnd else { throw error("unexpected ')'") }
            return n
        }

        mutating func disjunction() throws -> Node {
            var alternatives = [try alternative()]
            while peek() == Self.ch("|") {
                i += 1
                alternatives.append(try alternative())
            }
            return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
        }

        mutating func alternative() throws -> Node {
            var terms: [Node] = []
            while let c = peek(), c != Self.ch("|"), c != Self.ch(")") {
                terms.append(try term())
            }
            return terms.count == 1 ? terms[0] : .sequence(terms)
        }

        mutating func term() throws -> Node {
            let c = peek()!
            switch c {
            case Self.ch("^"): i += 1; return .start
            case Self.ch("$"): i += 1; return .end
            case Self.ch("\\") where peek(1) == Self.ch("b") || peek(1) == Self.ch("B"):
                let negated = peek(1) == Self.ch("B")
                i += 2
                return .wordBoundary(negated: negated)
            case Self.ch("(") where peek(1) == Self.ch("?") && (peek(2) == Self.ch("=") || peek(2) == Self.ch("!")):
                let negated = peek(2) == Self.ch("!")
                i += 3
                let inner = try disjunction()
                guard peek() == Self.ch(")") else { throw error("unclosed lookahead") }
                i += 1
                return .lookahead(inner, negated: negated)
            default:
                let a = try atom()
                return try quantified(a)
            }
        }

        mutating func quantified(_ atom: Node) throws -> Node {
            guard let c = peek() else { return atom }
            var lo = 0, hi = Int.max
            switch c {
            case Self.ch("*"): i += 1
            case Self.ch("+"): lo = 1; i += 1
            case Self.ch("?"): hi = 1; i += 1
            case Self.ch("{"):
                let save = i
                i += 1
                guard let a = number() else { i = save; return atom }      // a literal '{'
                lo = a; hi = a
                if peek() == Self.ch(",") {
                    i += 1
                    hi = number() ?? Int.max
                }
                guard peek() == Self.ch("}"), lo <= hi else { throw error("bad {n,m} quantifier") }
                i += 1
            default: return atom
            }
            var greedy = true
            if peek() == Self.ch("?") { greedy = false; i += 1 }
            if peek() == Self.ch("+") { throw error("possessive quantifiers are not ECMAScript") }
            return .repetition(atom, min: lo, max: hi, greedy: greedy)
        }

        mutating func number() -> Int? {
            var v: Int?
            while let c = peek(), (0x30...0x39).contains(c) {
                v = (v ?? 0) * 10 + Int(c - 0x30)
                i += 1
            }
            return v
        }

        mutating func atom() throws -> Node {
            let c = peek()!
            switch c {
            case Self.ch("("):
                i += 1
                if peek() == Self.ch("?") {
                    guard peek(1) == Self.ch(":") else { throw error("only (?:, (?= and (?! groups exist in ECMAScript") }
                    i += 2
                }
                let inner = try disjunction()
                guard peek() == Self.ch(")") else { throw error("unclosed group") }
                i += 1
                return inner
            case Self.ch("["):
                return .unit(try bracket())
            case Self.ch("."):
                i += 1
                var set = UnitSet()
                set.ranges = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
                set.negated = true
                return .unit(set)
            case Self.ch("\\"):
                i += 1
                return .unit(try escape(inClass: false))
            case Self.ch("*"), Self.ch("+"), Self.ch("?"):
                throw error("nothing to repeat")
            default:
                i += 1
                return .unit(UnitSet(ranges: [c...c]))
            }
        }

        /// After a backslash: a class (\d \s \w and complements) or one unit.
        mutating func escape(inClass: Bool) throws -> UnitSet {
            guard let c = peek() else { throw error("trailing backslash") }
            i += 1
            var set = UnitSet()
            func one(_ v: UInt32) -> UnitSet { UnitSet(ranges: [v...v]) }
            switch c {
            case Self.ch("d"), Self.ch("s"), Self.ch("w"):
                set.classes = [(UInt8(c), false)]
                return set
            case Self.ch("D"), Self.ch("S"), Self.ch("W"):
                set.classes = [(UInt8(c + 0x20), true)]
                return set
            case Self.ch("n"): return one(0x0A)
            case Self.ch("r"): return one(0x0D)
            case Self.ch("t"): return one(0x09)
            case Self.ch("f"): return one(0x0C)
            case Self.ch("v"): return one(0x0B)
            case Self.ch("0"): return one(0)
            case Self.ch("b") where inClass: return one(0x08)
            case Self.ch("x"), Self.ch("u"):
                let digits = c == Self.ch("x") ? 2 : 4
                var v: UInt32 = 0
                for _ in 0..<digits {
                    guard let d = peek(), let h = UInt32(String(Unicode.Scalar(d)!), radix: 16) else { throw error("bad hex escape") }
                    v = v << 4 | h
                    i += 1
                }
                return one(v)
            case Self.ch("p"), Self.ch("P"):
                throw error("unknown Unicode category")
            default:
                if (0x31...0x39).contains(c) { throw error("back-references are not supported") }
                return one(c)      // identity escape
            }
        }

        mutating func bracket() throws -> UnitSet {
            i += 1     // [
            var set = UnitSet()
            if peek() == Self.ch("^") { set.negated = true; i += 1 }
            var first = true
            while true {
                guard let c = peek() else { throw error("unclosed class") }
                if c == Self.ch("]") && !first { i += 1; break }
                if c == Self.ch("]") { throw error("empty class") }
                first = false
                let low = try classAtom()
                // A range `a-b`, unless '-' ends the class.
                if peek() == Self.ch("-"), let next = peek(1), next != Self.ch("]") {
                    i += 1
                    let high = try classAtom()
                    guard let a = low.single, let b = high.single, a <= b else { throw error("bad range in class") }
                    set.ranges.append(a...b)
                } else {
                    set.ranges += low.ranges
                    set.classes += low.classes
                }
            }
            return set
        }

        mutating func classAtom() throws -> UnitSet {
            let c = peek()!
            i += 1
            if c == Self.ch("\\") { return try escape(inClass: true) }
            return UnitSet(ranges: [c...c])
        }
    }

    // MARK: Matching

    /// Splits `units[range]` into pieces (as codepoint ranges): matches and the text between them.
    func split(_ units: [UInt32], _ range: Range<Int>, into out: inout [Range<Int>]) {
        var matcher = Matcher(units: units, lo: range.lowerBound, hi: range.upperBound)
        var last = range.lowerBound
        func add(_ r: Range<Int>) { if !r.isEmpty { out.append(r) } }
        // std::regex_iterator: after an empty match, first a non-empty match at the same place, else
        // a search from the next unit.
        var found = matcher.search(root, from: range.lowerBound, notEmpty: false, anchored: false)
        while let m = found {
            if m.lowerBound > last { add(last..<m.lowerBound) }
            add(m)
            last = m.upperBound
            var from = m.upperBound
            if m.isEmpty {
                if from == range.upperBound { break }
                if let again = matcher.search(root, from: from, notEmpty: true, anchored: true) {
                    found = again
                    continue
                }
                from += 1
            }
            found = matcher.search(root, from: from, notEmpty: false, anchored: false)
        }
        if last < range.upperBound { add(last..<range.upperBound) }
    }

    /// A test of one unit, for nodes that always consume exactly one unit and do nothing else:
    /// repetitions of them run as loops instead of recursion.
    indirect enum UnitTest: Sendable {
        case set(UnitSet)
        case all([UnitTest])
        case not(UnitTest)
        case any([UnitTest])

        func test(_ u: UInt32) -> Bool {
            switch self {
            case let .set(s): return s.contains(u)
            case let .all(ts): return ts.allSatisfy { $0.test(u) }
            case let .not(t): return !t.test(u)
            case let .any(ts): return ts.contains { $0.test(u) }
            }
        }

        /// `n` as a unit test: a set, `(?=X)Y` / `(?!X)Y` with X and Y unit tests, or alternatives of them.
        init?(_ n: Node) {
            switch n {
            case let .unit(set): self = .set(set.finished())
            case let .sequence(parts):
                guard let last = parts.last, let consume = UnitTest(last) else { return nil }
                var tests = [consume]
                for p in parts.dropLast() {
                    guard case let .lookahead(inner, negated) = p, let t = UnitTest(inner) else { return nil }
                    tests.append(negated ? .not(t) : t)
                }
                self = .all(tests)
            case let .alternation(alts):
                let tests = alts.compactMap(UnitTest.init)
                guard tests.count == alts.count else { return nil }
                self = .any(tests)
            default: return nil
            }
        }
    }

    /// Turns repetitions of unit tests into loops, throughout.
    static func optimize(_ n: Node) -> Node {
        switch n {
        case let .unit(set): return .unit(set.finished())
        case let .sequence(parts): return .sequence(parts.map(optimize))
        case let .alternation(alts): return .alternation(alts.map(optimize))
        case let .lookahead(inner, negated): return .lookahead(optimize(inner), negated: negated)
        case let .repetition(inner, lo, hi, greedy):
            if let t = UnitTest(inner) { return .loop(t, min: lo, max: hi, greedy: greedy) }
            return .repetition(optimize(inner), min: lo, max: hi, greedy: greedy)
        default: return n
        }
    }

    struct Matcher {
        let units: [UInt32]
        let lo: Int, hi: Int

        /// The first match starting at `from` or after (only at `from` when anchored).
        func search(_ root: Node, from: Int, notEmpty: Bool, anchored: Bool) -> Range<Int>? {
            var start = from
            while start <= hi {
                let s = start
                if let end = match(root, s, { e in notEmpty && e == s ? nil : e }) { return s..<end }
                if anchored { return nil }
                start += 1
            }
            return nil
        }

        func isWord(_ k: Int) -> Bool { k >= lo && k < hi && UnitSet.inClass(UInt8(ascii: "w"), units[k]) }

        /// Continuation-passing backtracking: `k` is the rest of the pattern; nil is failure.
        func match(_ n: Node, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            switch n {
            case let .unit(set):
                return i < hi && set.contains(units[i]) ? k(i + 1) : nil
            case let .sequence(parts):
                return sequence(parts[...], i, k)
            case let .alternation(alts):
                for a in alts { if let r = match(a, i, k) { return r } }
                return nil
            case let .loop(test, lo, hiCount, greedy):
                var n = 0
                while n < hiCount, i + n < hi, test.test(units[i + n]) { n += 1 }
                guard n >= lo else { return nil }
                if greedy {
                    for c in stride(from: n, through: lo, by: -1) { if let r = k(i + c) { return r } }
                } else {
                    for c in lo...n { if let r = k(i + c) { return r } }
                }
                return nil
            case let .repetition(inner, lo, hiCount, greedy):
                return repeatMatch(inner, min: lo, max: hiCount, greedy: greedy, i, k)
            case let .lookahead(inner, negated):
                let found = match(inner, i, { $0 }) != nil
                return found != negated ? k(i) : nil
            case .start:
                return i == lo ? k(i) : nil
            case .end:
                return i == hi ? k(i) : nil
            case let .wordBoundary(negated):
                return (isWord(i - 1) != isWord(i)) != negated ? k(i) : nil
            }
        }

        func sequence(_ parts: ArraySlice<Node>, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            guard let first = parts.first else { return k(i) }
            return match(first, i) { j in sequence(parts.dropFirst(), j, k) }
        }

        /// ECMAScript's RepeatMatcher: an iteration that matches nothing ends the repetition.
        func repeatMatch(_ inner: Node, min: Int, max: Int, greedy: Bool, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            if max == 0 { return k(i) }
            func more(_ j: Int) -> Int? {
                if min == 0 && j == i { return nil }
                return repeatMatch(inner, min: Swift.max(min - 1, 0), max: max == Int.max ? max : max - 1, greedy: greedy, j, k)
            }
            if min > 0 { return match(inner, i, more) }
            if greedy {
                return match(inner, i, more) ?? k(i)
            }
            return k(i) ?? match(inner, i, more)
        }
    }
}

extension PreTokenizerRegex.UnitSet {
    /// The unit when the set is exactly one (for class ranges).
    var single: UInt32? {
        guard !negated, classes.isEmpty, ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return ranges[0].lowerBound
    }
}
