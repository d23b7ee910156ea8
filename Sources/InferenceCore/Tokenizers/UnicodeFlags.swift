// Character classes as llama.cpp's tokenizers see them (src/unicode.h, unicode-data.cpp): each
// codepoint's general category folded to one of \p{N} \p{L} \p{Z} \p{M} \p{P} \p{S} \p{C} (or
// "undefined"), plus White_Space. llama.cpp generated its table from UnicodeData.txt of Unicode
// 15.1; a codepoint assigned in a later version is "undefined" there, so it is here too although
// Swift's own tables are newer (the test compares every codepoint with a dump of llama.cpp's table).
import Foundation

struct UnicodeFlags: OptionSet, Sendable {
    let rawValue: UInt16
    static let undefined   = UnicodeFlags(rawValue: 0x0001)
    static let number      = UnicodeFlags(rawValue: 0x0002)   // \p{N}
    static let letter      = UnicodeFlags(rawValue: 0x0004)   // \p{L}
    static let separator   = UnicodeFlags(rawValue: 0x0008)   // \p{Z}
    static let mark        = UnicodeFlags(rawValue: 0x0010)   // \p{M}
    static let punctuation = UnicodeFlags(rawValue: 0x0020)   // \p{P}
    static let symbol      = UnicodeFlags(rawValue: 0x0040)   // \p{S}
    static let control     = UnicodeFlags(rawValue: 0x0080)   // \p{C}
    static let whitespace  = UnicodeFlags(rawValue: 0x0100)   // \s

    /// llama.cpp's flags of a position outside the text being split: none at all.
    static let outside = UnicodeFlags([])

    var isNumber: Bool { contains(.number) }
    var isLetter: Bool { contains(.letter) }
    var isMark: Bool { contains(.mark) }
    var isWhitespace: Bool { contains(.whitespace) }
    /// The general-category part (llama.cpp's `category_flag()`).
    var category: UnicodeFlags { UnicodeFlags(rawValue: rawValue & 0xFF) }

    /// White_Space, as llama.cpp lists it (PropList.txt).
    static let whitespaceCodepoints: Set<UInt32> = Set(Array(0x09...0x0D) + Array(0x2000...0x200A)
        + [0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

    /// The Unicode version of llama.cpp's table.
    static let tableVersion = (major: 15, minor: 1)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(_ cpt: UInt32) {
        if cpt < 0x10000 {
            self = Self.basicPlane.withUnsafeBufferPointer { UnicodeFlags(rawValue: $0[Int(cpt)]) }
        } else {
            self = Self.compute(cpt)
        }
    }

    /// Flags of the first 65,536 codepoints, looked up on every character of every text.
    private static let basicPlane: [UInt16] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    static func compute(_ cpt: UInt32) -> UnicodeFlags {
        guard cpt < 0x110000 else { return .outside }
        var flags: UnicodeFlags
        if let scalar = Unicode.Scalar(cpt) {
            let p = scalar.properties
            if let age = p.age, (age.major, age.minor) > tableVersion {
                flags = .undefined
            } else {
                switch p.generalCategory {
                case .unassigned: flags = .undefined
                case .control, .format, .privateUse, .surrogate: flags = .control
                case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: flags = .letter
                case .spacingMark, .enclosingMark, .nonspacingMark: flags = .mark
                case .decimalNumber, .letterNumber, .otherNumber: flags = .number
                case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                     .initialPunctuation, .finalPunctuation, .otherPunctuation: flags = .punctuation
                case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: flags = .symbol
                case .spaceSeparator, .lineSeparator, .paragraphSeparator: flags = .separator
                @unknown default: flags = .undefined
                }
            }
        } else {
            flags = .control      // D800–DFFF: surrogates (Cs)
        }
        if whitespaceCodepoints.contains(cpt) { flags.insert(.whitespace) }
        return flags
    }

    /// llama.cpp's `unicode_tolower` for what the pre-tokenizers ask of it (is this one of the letters
    /// of 's 't 're 've 'm 'll 'd?): only their capitals lowercase to them.
    static func asciiLower(_ cpt: UInt32) -> UInt32 {
        (0x41...0x5A).contains(cpt) ? cpt + 0x20 : cpt
    }

    /// llama.cpp's `unicode_cpt_is_han`: the CJK ideograph blocks.
    static func isHan(_ cpt: UInt32) -> Bool {
        switch cpt {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0x2CEB0...0x2EBEF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
