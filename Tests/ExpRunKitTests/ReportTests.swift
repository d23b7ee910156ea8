// Charts and statistics: SVG that parses as XML with every text escaped, round axis ticks, and
// medians / spreads computed the usual way.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ExpRunKit

final class XMLCheck: NSObject, XMLParserDelegate {
    var texts: [String] = []
    var elements: [String] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append(name)
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }

    static func parse(_ svg: String) -> XMLCheck? {
        let check = XMLCheck()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = check
        return parser.parse() ? check : nil
    }
}

@Suite struct ReportTests {
    @Test func chartsAreWellFormedAndEscaped() throws {
        let hostile = "q4 <k> & \"x\" 'y'\u{1}"
        for kind in [Chart.Kind.bars, .horizontalBars] {
            let chart = Chart(kind: kind, title: "Title <&>", categories: ["fp32", hostile, "int8"], xLabel: "configuration",
                              yLabel: "tokens/s", series: [
                                ChartSeries(name: "1 thread", values: [10, 20, nil], ranges: [(9, 11), (18, 22), nil]),
                                ChartSeries(name: hostile, values: [5, .nan, 7]),
                              ], note: "note & more")
            let xml = try #require(XMLCheck.parse(chart.svg()))
            let all = xml.texts.joined()
            #expect(all.contains("Title <&>"))
            #expect(all.contains(kind == .bars ? "tokens/s" : "configuration"))   // the value axis's label
            #expect(all.contains("1 thread"))           // the legend
            #expect(all.contains("q4 <k> & \"x\" 'y'?"))  // a category, its control character replaced
            #expect(xml.elements.first == "svg")
            #expect(xml.elements.filter { $0 == "rect" }.count >= 5)   // page, legend and bars
        }
    }

    @Test func ticksAreRoundAndCoverTheData() {
        for top in [0.3, 1, 7.5, 12, 99, 1234, 5e6] {
            let t = Chart.ticks(upTo: top)
            #expect(t.first == 0)
            #expect(t.last! >= top)
            #expect(t.count <= 12)
            let step = t[1] - t[0]
            let mantissa = step / pow(10, floor(log10(step)))
            #expect([1, 2, 5, 10].contains { abs($0 - mantissa) < 1e-9 })
        }
    }

    @Test func statistics() {
        let odd = Statistics([3, 1, 2])
        #expect(odd.median == 2 && odd.min == 1 && odd.max == 3 && odd.spread == 2 && odd.mean == 2)
        #expect(odd.stddev == 1)                           // sample standard deviation
        #expect(Statistics([4, 1, 3, 2]).median == 2.5)
        #expect(Statistics([]).count == 0 && Statistics([]).median.isNaN)
        #expect(Statistics([5]).stddev == 0)
        // Charts name their whiskers for what they are: under 6 repeats min–max is no 95% interval.
        let three = Statistics([1, 2, 3]), six = Statistics([1, 2, 3, 4, 5, 6])
        #expect(Statistics.whiskers([six, six]) == "95% CI" && Statistics.whiskers([three]) == "min–max")
        #expect(Statistics.whiskers([six, three]) == "95% CI, min–max under 6 repeats")
    }

    @Test func editDistanceSuggestions() {
        #expect(EditDistance.distance("repeets", "repeats") == 1)
        #expect(EditDistance.suggestion(for: "repeets", among: ["repeats", "warmup"]) == "repeats")
        #expect(EditDistance.suggestion(for: "zzzzzz", among: ["repeats", "warmup"]) == nil)
    }
}
