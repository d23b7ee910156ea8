// A few SVG charts, written by hand because no Swift chart library runs on Linux: grouped bars
// (tokens/s and seconds with whiskers; bars, not lines: configurations are not points on a scale
// to draw a trend between), horizontal grouped bars (memory: one group per configuration, which
// stays readable at a dozen configurations and more), and in ScatterChart.swift points on two
// numeric axes. Every chart has a title, axis labels with units and a legend when it has more
// than one series; every text is XML-escaped. Whiskers show confidence intervals.
import Foundation

public struct ChartSeries: Sendable {
    public var name: String
    /// One value per category; nil leaves a gap.
    public var values: [Double?]
    /// Optional interval per category (low, high), drawn as whiskers.
    public var ranges: [(Double, Double)?]
    public init(name: String, values: [Double?], ranges: [(Double, Double)?] = []) {
        self.name = name; self.values = values; self.ranges = ranges
    }
}

public struct Chart: Sendable {
    public enum Kind: Sendable { case bars, horizontalBars }
    public var kind: Kind
    public var title: String
    public var categories: [String]
    public var xLabel: String
    public var yLabel: String
    public var series: [ChartSeries]
    public var note: String?

    public init(kind: Kind, title: String, categories: [String], xLabel: String, yLabel: String, series: [ChartSeries], note: String? = nil) {
        self.kind = kind; self.title = title; self.categories = categories; self.xLabel = xLabel
        self.yLabel = yLabel; self.series = series; self.note = note
    }

    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    public func svg() -> String {
        if kind == .horizontalBars { return horizontalSVG() }
        let width = max(640.0, 140.0 + Double(categories.count) * Double(max(1, series.count)) * 26.0)
        // Room below the plot for the longest category label, written at 30°.
        let longest = Double(Swift.min(28, categories.map(\.count).max() ?? 0))
        let left = 78.0, right = 24.0, bottom = 44 + longest * 6.6 * 0.5
        let height = 320 + bottom
        var out = Self.header(width: width, height: height, title: title, note: note)
        let legendRows = Self.legend(series.count > 1 ? series.map(\.name) : [], left: left, width: width - right, into: &out)
        let top = 64.0 + Double(legendRows) * 18
        let plotW = width - left - right, plotH = height - top - bottom

        let ticks = Self.ticks(upTo: highest)
        let tickFormat = Self.tickFormat(ticks)
        let top_ = ticks.last ?? 1
        func y(_ v: Double) -> Double { top + plotH - v / top_ * plotH }

        // Axes and grid
        for t in ticks {
            out.append(##"<line x1="\##(f(left))" y1="\##(f(y(t)))" x2="\##(f(left + plotW))" y2="\##(f(y(t)))" stroke="#ddd"/>"##)
            out.append(##"<text x="\##(f(left - 6))" y="\##(f(y(t) + 4))" text-anchor="end">\##(String(format: tickFormat, t))</text>"##)
        }
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top))" x2="\##(f(left))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top + plotH))" x2="\##(f(left + plotW))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<text transform="translate(18 \##(f(top + plotH / 2))) rotate(-90)" text-anchor="middle">\##(Self.escape(yLabel))</text>"##)
        out.append(##"<text x="\##(f(left + plotW / 2))" y="\##(f(height - 8))" text-anchor="middle">\##(Self.escape(xLabel))</text>"##)

        let slot = plotW / Double(Swift.max(1, categories.count))
        for (c, name) in categories.enumerated() {
            let cx = left + slot * (Double(c) + 0.5)
            let label = name.count > 28 ? String(name.prefix(27)) + "…" : name
            out.append(##"<text transform="translate(\##(f(cx)) \##(f(top + plotH + 14))) rotate(-30)" text-anchor="end">\##(Self.escape(label))</text>"##)
        }
        let groupW = slot * 0.8
        let barW = groupW / Double(Swift.max(1, series.count))
        for (si, s) in series.enumerated() {
            let color = Self.palette[si % Self.palette.count]
            for (c, value) in s.values.enumerated() where c < categories.count {
                guard let v = value, v.isFinite else { continue }
                let x = left + slot * Double(c) + (slot - groupW) / 2 + barW * Double(si)
                out.append(##"<rect x="\##(f(x + 1))" y="\##(f(y(v)))" width="\##(f(Swift.max(1, barW - 2)))" height="\##(f(top + plotH - y(v)))" fill="\##(color)"><title>\##(Self.escape("\(s.name) · \(categories[c]): \(Self.number(v))"))</title></rect>"##)
                if c < s.ranges.count, let r = s.ranges[c] { out.append(whisker(x + barW / 2, y(r.0), y(r.1))) }
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// The largest value or interval end over all series.
    var highest: Double {
        var highest = 0.0
        for s in series {
            for (i, v) in s.values.enumerated() {
                if let v, v.isFinite { highest = Swift.max(highest, v) }
                if i < s.ranges.count, let r = s.ranges[i], r.1.isFinite { highest = Swift.max(highest, r.1) }
            }
        }
        return highest
    }

    /// One band per category, one bar per series in it, values written at the bars' ends: the
    /// labels sit horizontally at the left however many categories there are.
    func horizontalSVG() -> String {
        let width = 760.0, right = 70.0
        let labels = categories.map { $0.count > 40 ? String($0.prefix(39)) + "…" : $0 }
        let left = Swift.min(300, Swift.max(90, 16 + Double(labels.map(\.count).max() ?? 0) * 6.6))
        let barH = 13.0, gap = 12.0
        let band = Double(Swift.max(1, series.count)) * barH + gap
        var out: [String] = []
        let legendProbe = Self.legend(series.count > 1 ? series.map(\.name) : [], left: left, width: width - right, into: &out)
        let top = 64.0 + Double(legendProbe) * 18
        let plotH = band * Double(categories.count)
        let height = top + plotH + 56
        out = Self.header(width: width, height: height, title: title, note: note)
        _ = Self.legend(series.count > 1 ? series.map(\.name) : [], left: left, width: width - right, into: &out)
        let plotW = width - left - right
        let ticks = Self.ticks(upTo: highest)
        let tickFormat = Self.tickFormat(ticks)
        let top_ = ticks.last ?? 1
        func x(_ v: Double) -> Double { left + v / top_ * plotW }
        for t in ticks {
            out.append(##"<line x1="\##(f(x(t)))" y1="\##(f(top))" x2="\##(f(x(t)))" y2="\##(f(top + plotH))" stroke="#ddd"/>"##)
            out.append(##"<text x="\##(f(x(t)))" y="\##(f(top + plotH + 16))" text-anchor="middle">\##(String(format: tickFormat, t))</text>"##)
        }
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top))" x2="\##(f(left))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top + plotH))" x2="\##(f(left + plotW))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<text x="\##(f(left + plotW / 2))" y="\##(f(height - 10))" text-anchor="middle">\##(Self.escape(xLabel))</text>"##)
        for (c, label) in labels.enumerated() {
            let bandTop = top + band * Double(c)
            if c > 0 { out.append(##"<line x1="\##(f(left - 4))" y1="\##(f(bandTop))" x2="\##(f(left + plotW))" y2="\##(f(bandTop))" stroke="#eee"/>"##) }
            out.append(##"<text x="\##(f(left - 8))" y="\##(f(bandTop + band / 2 + 4))" text-anchor="end">\##(Self.escape(label))</text>"##)
            for (si, s) in series.enumerated() {
                guard c < s.values.count, let v = s.values[c], v.isFinite else { continue }
                let y = bandTop + gap / 2 + barH * Double(si)
                let color = Self.palette[si % Self.palette.count]
                out.append(##"<rect x="\##(f(left))" y="\##(f(y + 1))" width="\##(f(Swift.max(1, x(v) - left)))" height="\##(f(barH - 2))" fill="\##(color)"><title>\##(Self.escape("\(s.name) · \(categories[c]): \(Self.number(v))"))</title></rect>"##)
                var end = x(v)
                if c < s.ranges.count, let r = s.ranges[c] {
                    out.append(##"<path d="M\##(f(x(r.0))) \##(f(y + barH / 2)) H\##(f(x(r.1))) M\##(f(x(r.0))) \##(f(y + 2)) V\##(f(y + barH - 2)) M\##(f(x(r.1))) \##(f(y + 2)) V\##(f(y + barH - 2))" stroke="#222" stroke-width="1.2" fill="none"/>"##)
                    end = Swift.max(end, x(r.1))
                }
                out.append(##"<text x="\##(f(end + 4))" y="\##(f(y + barH - 3))" font-size="10" fill="#333">\##(Self.number(v))</text>"##)
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// The opening of every chart: the svg element, a white page, the title and the note.
    static func header(width: Double, height: Double, title: String, note: String?) -> [String] {
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out: [String] = []
        out.append(##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(f(width))" height="\##(f(height))" viewBox="0 0 \##(f(width)) \##(f(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">"##)
        out.append(##"<title>\##(escape(title))</title>"##)
        out.append(##"<rect width="100%" height="100%" fill="white"/>"##)
        out.append(##"<text x="\##(f(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">\##(escape(title))</text>"##)
        if let note { out.append(##"<text x="\##(f(width / 2))" y="42" text-anchor="middle" font-size="11" fill="#555">\##(escape(note))</text>"##) }
        return out
    }

    /// Legend entries flow left to right from `left` and wrap before `width`, so long series names
    /// never leave the picture; returns the number of rows.
    @discardableResult
    static func legend(_ names: [String], left: Double, width: Double, into out: inout [String]) -> Int {
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var x = left, row = 0
        for (i, name) in names.enumerated() {
            let w = 28 + Double(name.count) * 6.5
            if x + w > width && x > left { x = left; row += 1 }
            let y = 52.0 + Double(row) * 18
            out.append(##"<rect x="\##(f(x))" y="\##(f(y))" width="12" height="12" fill="\##(palette[i % palette.count])"/>"##)
            out.append(##"<text x="\##(f(x + 16))" y="\##(f(y + 10))">\##(escape(name))</text>"##)
            x += w
        }
        return names.isEmpty ? 0 : row + 1
    }

    /// Enough decimals to tell the ticks apart.
    static func tickFormat(_ ticks: [Double]) -> String {
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
        return "%.\(Swift.max(0, Int(-floor(log10(step)))))f"
    }

    func whisker(_ x: Double, _ y0: Double, _ y1: Double) -> String {
        ##"<path d="M\##(f(x)) \##(f(y0)) V\##(f(y1)) M\##(f(x - 4)) \##(f(y0)) H\##(f(x + 4)) M\##(f(x - 4)) \##(f(y1)) H\##(f(x + 4))" stroke="#222" stroke-width="1.2" fill="none"/>"##
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Round tick values from 0 to at least `value` (steps of 1, 2 or 5 × 10^k).
    static func ticks(upTo value: Double) -> [Double] {
        guard value > 0, value.isFinite else { return [0, 1] }
        let raw = value / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var ticks: [Double] = []
        var t = 0.0
        while t < value + step * 0.999 && ticks.count < 20 { ticks.append(t); t += step }
        if (ticks.last ?? 0) < value { ticks.append(t) }
        return ticks
    }

    /// Three significant digits, no exponent for ordinary sizes.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1000 { return String(format: "%.0f", v) }
        if a >= 100 { return String(format: "%.1f", v) }
        if a >= 10 { return String(format: "%.2f", v) }
        if a >= 0.01 { return String(format: "%.3f", v) }
        return String(format: "%.2e", v)
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 forbids most control characters even when escaped.
                if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { out += "?" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
