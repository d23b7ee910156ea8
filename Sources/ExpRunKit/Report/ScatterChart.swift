// Points on two numeric axes, one labelled point per configuration: quality against size (bits
// per weight) and quality against speed, the two trade-offs a quantization is chosen by. The
// Pareto front — the configurations no other one beats on both axes at once — is drawn as a
// dashed staircase through them, and the others are hollow: what is off the front is never the
// right choice. Axes start at zero only where the data comes near it, so that perplexities of
// 15.2 and 15.9 do not sit on one line. Labels are placed beside their point where they overlap
// no other label or point.
import Foundation

public struct ScatterPoint: Sendable {
    public var label: String
    public var x: Double
    public var y: Double
    /// Confidence intervals, drawn as error bars.
    public var xRange: (Double, Double)?
    public var yRange: (Double, Double)?
    public init(label: String, x: Double, y: Double, xRange: (Double, Double)? = nil, yRange: (Double, Double)? = nil) {
        self.label = label; self.x = x; self.y = y; self.xRange = xRange; self.yRange = yRange
    }
}

public struct ScatterSeries: Sendable {
    public var name: String
    public var points: [ScatterPoint]
    public init(name: String, points: [ScatterPoint]) { self.name = name; self.points = points }
}

public struct ScatterChart: Sendable {
    public enum Better: Sendable { case lower, higher }
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ScatterSeries]
    /// Which way is better on each axis, for the front.
    public var xBetter: Better
    public var yBetter: Better
    public var note: String?

    public init(title: String, xLabel: String, yLabel: String, series: [ScatterSeries], xBetter: Better, yBetter: Better, note: String? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.xBetter = xBetter; self.yBetter = yBetter; self.note = note
    }

    /// Indices of the points no other point of `points` beats or equals on both axes.
    public func front(_ points: [ScatterPoint]) -> [Int] {
        func better(_ a: Double, _ b: Double, _ way: Better) -> Bool { way == .lower ? a < b : a > b }
        func atLeast(_ a: Double, _ b: Double, _ way: Better) -> Bool { a == b || better(a, b, way) }
        return points.indices.filter { i in
            let p = points[i]
            return !points.indices.contains { j in
                let q = points[j]
                return j != i && atLeast(q.x, p.x, xBetter) && atLeast(q.y, p.y, yBetter)
                    && (better(q.x, p.x, xBetter) || better(q.y, p.y, yBetter))
            }
        }
    }

    public func svg() -> String {
        let width = 760.0, height = 500.0
        let left = 78.0, right = 30.0, bottom = 56.0
        var out = Chart.header(width: width, height: height, title: title, note: note)
        let names = series.count > 1 ? series.map(\.name) : []
        let legendRows = Chart.legend(names + ["Pareto front (hollow points: another is better on both axes)"], left: left, width: width - right, into: &out)
        // The front's legend swatch is a dashed line, not a square.
        if let i = out.lastIndex(where: { $0.hasPrefix("<rect x=") }),
           let x = out[i].split(separator: "\"").dropFirst().first, let y = out[i].split(separator: "\"").dropFirst(3).first,
           let x0 = Double(x), let y0 = Double(y) {
            out[i] = ##"<line x1="\##(x0)" y1="\##(y0 + 6)" x2="\##(x0 + 14)" y2="\##(y0 + 6)" stroke="#555" stroke-width="1.5" stroke-dasharray="4 2"/>"##
        }
        let top = 64.0 + Double(legendRows) * 18
        let plotW = width - left - right, plotH = height - top - bottom

        let all = series.flatMap(\.points)
        let xs = all.flatMap { [$0.x] + ($0.xRange.map { [$0.0, $0.1] } ?? []) }.filter(\.isFinite)
        let ys = all.flatMap { [$0.y] + ($0.yRange.map { [$0.0, $0.1] } ?? []) }.filter(\.isFinite)
        let xTicks = Self.ticks(xs), yTicks = Self.ticks(ys)
        let x0 = xTicks.first ?? 0, x1 = xTicks.last ?? 1, y0 = yTicks.first ?? 0, y1 = yTicks.last ?? 1
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * plotW }
        func py(_ v: Double) -> Double { top + plotH - (v - y0) / (y1 - y0) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        let xFormat = Chart.tickFormat(xTicks), yFormat = Chart.tickFormat(yTicks)
        for t in yTicks {
            out.append(##"<line x1="\##(f(left))" y1="\##(f(py(t)))" x2="\##(f(left + plotW))" y2="\##(f(py(t)))" stroke="#ddd"/>"##)
            out.append(##"<text x="\##(f(left - 6))" y="\##(f(py(t) + 4))" text-anchor="end">\##(String(format: yFormat, t))</text>"##)
        }
        for t in xTicks {
            out.append(##"<line x1="\##(f(px(t)))" y1="\##(f(top))" x2="\##(f(px(t)))" y2="\##(f(top + plotH))" stroke="#eee"/>"##)
            out.append(##"<text x="\##(f(px(t)))" y="\##(f(top + plotH + 16))" text-anchor="middle">\##(String(format: xFormat, t))</text>"##)
        }
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top))" x2="\##(f(left))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<line x1="\##(f(left))" y1="\##(f(top + plotH))" x2="\##(f(left + plotW))" y2="\##(f(top + plotH))" stroke="#333"/>"##)
        out.append(##"<text transform="translate(18 \##(f(top + plotH / 2))) rotate(-90)" text-anchor="middle">\##(Chart.escape(yLabel))</text>"##)
        out.append(##"<text x="\##(f(left + plotW / 2))" y="\##(f(height - 12))" text-anchor="middle">\##(Chart.escape(xLabel))</text>"##)

        // Where the better corner is, in the plot's own corner.
        let corner = (xBetter == .lower ? "←" : "→") + " " + (yBetter == .lower ? "↓" : "↑") + " better"
        let cornerX = xBetter == .lower ? left + 8 : left + plotW - 8
        let cornerY = yBetter == .lower ? top + plotH - 8 : top + 16
        out.append(##"<text x="\##(f(cornerX))" y="\##(f(cornerY))" text-anchor="\##(xBetter == .lower ? "start" : "end")" fill="#888" font-size="11">\##(Chart.escape(corner))</text>"##)

        // Lines and markers first, collecting what labels must not cover; labels last, on top.
        typealias Box = (x: Double, y: Double, w: Double, h: Double)
        var obstacles: [Box] = []
        func horizontal(_ x0: Double, _ x1: Double, _ y: Double) -> Box { (Swift.min(x0, x1), y - 2, abs(x1 - x0), 4) }
        func vertical(_ x: Double, _ y0: Double, _ y1: Double) -> Box { (x - 2, Swift.min(y0, y1), 4, abs(y1 - y0)) }
        var labels: [(label: String, cx: Double, cy: Double)] = []
        for (si, s) in series.enumerated() {
            let color = Chart.palette[si % Chart.palette.count]
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            let onFront = Set(front(points))
            // The front as a staircase: between two neighbours it turns at the corner that is worse
            // on both axes, the edge of what they dominate.
            let frontPoints = onFront.map { points[$0] }.sorted { $0.x < $1.x }
            if frontPoints.count > 1 {
                var d = "M\(f(px(frontPoints[0].x))) \(f(py(frontPoints[0].y)))"
                for (p, q) in zip(frontPoints, frontPoints.dropFirst()) {
                    let cx = xBetter == .lower ? Swift.max(p.x, q.x) : Swift.min(p.x, q.x)
                    let cy = yBetter == .lower ? Swift.max(p.y, q.y) : Swift.min(p.y, q.y)
                    d += " L\(f(px(cx))) \(f(py(cy))) L\(f(px(q.x))) \(f(py(q.y)))"
                    for (a, b) in [((p.x, p.y), (cx, cy)), ((cx, cy), (q.x, q.y))] {
                        obstacles.append(a.1 == b.1 ? horizontal(px(a.0), px(b.0), py(a.1)) : vertical(px(a.0), py(a.1), py(b.1)))
                    }
                }
                out.append(##"<path d="\##(d)" stroke="\##(series.count > 1 ? color : "#555")" stroke-width="1.5" stroke-dasharray="5 4" fill="none"/>"##)
            }
            for (i, p) in points.enumerated() {
                let cx = px(p.x), cy = py(p.y)
                if let r = p.xRange {
                    out.append(##"<path d="M\##(f(px(r.0))) \##(f(cy)) H\##(f(px(r.1))) M\##(f(px(r.0))) \##(f(cy - 4)) V\##(f(cy + 4)) M\##(f(px(r.1))) \##(f(cy - 4)) V\##(f(cy + 4))" stroke="\##(color)" stroke-width="1" fill="none"/>"##)
                    obstacles.append(horizontal(px(r.0), px(r.1), cy))
                }
                if let r = p.yRange {
                    out.append(##"<path d="M\##(f(cx)) \##(f(py(r.0))) V\##(f(py(r.1))) M\##(f(cx - 4)) \##(f(py(r.0))) H\##(f(cx + 4)) M\##(f(cx - 4)) \##(f(py(r.1))) H\##(f(cx + 4))" stroke="\##(color)" stroke-width="1" fill="none"/>"##)
                    obstacles.append(vertical(cx, py(r.0), py(r.1)))
                }
                let fill = onFront.contains(i) ? color : "white"
                let tip = "\(p.label): \(Chart.number(p.x)), \(Chart.number(p.y))" + (series.count > 1 ? " (\(s.name))" : "")
                out.append(##"<circle cx="\##(f(cx))" cy="\##(f(cy))" r="5" fill="\##(fill)" stroke="\##(color)" stroke-width="2"><title>\##(Chart.escape(tip))</title></circle>"##)
                obstacles.append((cx - 6, cy - 6, 12, 12))
                labels.append((p.label.count > 32 ? String(p.label.prefix(31)) + "…" : p.label, cx, cy))
            }
        }
        for (label, cx, cy) in labels {
            let w = Double(label.count) * 6.2 + 4, h = 13.0
            // Right, left, above, below, then the diagonals and further out: the first spot that
            // covers nothing, else the one that covers least.
            var spots: [(Double, Double, String)] = []
            for d in [0.0, 10, 22] {
                spots += [(cx + 9 + d, cy + 4, "start"), (cx - 9 - d, cy + 4, "end"), (cx, cy - 10 - d, "middle"), (cx, cy + 18 + d, "middle"),
                          (cx + 6 + d, cy - 9 - d, "start"), (cx - 6 - d, cy - 9 - d, "end"), (cx + 6 + d, cy + 17 + d, "start"), (cx - 6 - d, cy + 17 + d, "end")]
            }
            func box(_ s: (Double, Double, String)) -> Box {
                (s.2 == "start" ? s.0 : s.2 == "end" ? s.0 - w : s.0 - w / 2, s.1 - 10, w, h)
            }
            func overlap(_ a: Box, _ b: Box) -> Double {
                Swift.max(0, Swift.min(a.x + a.w, b.x + b.w) - Swift.max(a.x, b.x)) * Swift.max(0, Swift.min(a.y + a.h, b.y + b.h) - Swift.max(a.y, b.y))
            }
            func cost(_ b: Box) -> Double {
                let inside = b.x >= left && b.x + b.w <= width - 4 && b.y >= top - 4 && b.y + b.h <= top + plotH + 4
                return (inside ? 0 : 1e9) + obstacles.reduce(0) { $0 + overlap(b, $1) }
            }
            let spot = spots.first { cost(box($0)) == 0 } ?? spots.min { cost(box($0)) < cost(box($1)) }!
            obstacles.append(box(spot))
            // A white outline under the letters keeps a label legible where it must cross a line.
            out.append(##"<text x="\##(f(spot.0))" y="\##(f(spot.1))" text-anchor="\##(spot.2)" font-size="11" stroke="white" stroke-width="3" paint-order="stroke">\##(Chart.escape(label))</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Round ticks covering the values with a little room on both sides; from zero when the
    /// values come within a third of their span of it.
    static func ticks(_ values: [Double]) -> [Double] {
        guard var lo = values.min(), var hi = values.max() else { return [0, 1] }
        if lo >= 0 && lo < (hi - lo) / 3 { lo = 0 }
        if hi == lo { hi = lo + Swift.max(abs(lo) * 0.1, 1e-9) }
        let pad = (hi - lo) * 0.06
        if lo != 0 { lo -= pad }
        hi += pad
        let raw = (hi - lo) / 6
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var t = (lo / step).rounded(.down) * step
        var result: [Double] = []
        while t < hi + step * 0.999 && result.count < 20 { result.append(t); t += step }
        if (result.last ?? 0) < hi { result.append(t) }
        return result
    }
}
