// GPTQ, AWQ and round-to-nearest as ordinary configurations of an experiment on the fixture: run in
// their own processes, with the calibration data, its checksum, time and peak memory stored and
// reported; a configuration that cannot be quantized is a failed run beside the others, and a bad
// `calibration:` section is a validation error naming its line.
import Foundation
import GRDB
import Testing

@Suite(.serialized) struct CalibrationEndToEndTests {
    @Test func calibratedConfigurationsRunAndAreRecorded() throws {
        let dir = Exprun.temporaryDirectory()
        let db = dir + "/exprun.sqlite"
        let ids = Exprun.sharedData.appendingPathComponent("gptq-oracle/tokens.safetensors").path
        let file = Exprun.write("""
            name: e2e-calibration
            model: \(Exprun.tinyModel)
            quantizations:
              - fp32
              - {method: rtn, bits: 4, group_size: 32}
              - {method: gptq, bits: 4, group_size: 32, desc_act: true, calibration: {ids: \(ids)}}
              - {method: awq, bits: 4, group_size: 32, calibration: {text: wikitext-2-raw:train, samples: 4, tokens: 64, seed: 0}}
              - {method: gptq, bits: 4, group_size: 128, calibration: {text: wikitext-2-raw:train, samples: 4, tokens: 64}}
            prompts: [Once upon a time]
            generate: {max_new_tokens: 4}
            measure: {repeats: 1, warmup: 0, baseline: fp32}
            """, to: dir)
        let result = try Exprun.run([file, "--db", db])
        #expect(result.status != 0)        // one run failed, the others were stored
        let runs = try rows(db, "SELECT * FROM run ORDER BY id")
        #expect(runs.count == 5)
        guard runs.count == 5 else { return }
        #expect(runs[0..<4].allSatisfy { $0["status"] as String == "ok" }, "\(result.stderr)")
        #expect(runs[4]["status"] as String == "failed")
        // Groups of 128 on the fixture's 64-wide layers: the run fails, naming the layer and the fix.
        #expect((runs[4]["error"] as String? ?? "").contains("transformer.h.0.attn.c_attn: group_size 128 is larger than the layer's 64 inputs"))
        let calibration: String = try #require(runs[2]["calibration"] as String?)
        let record = try JSONSerialization.jsonObject(with: Data(calibration.utf8)) as! [String: Any]
        // The ids file's windows, hashed as the oracle README gives them.
        #expect(record["idsSHA256"] as? String == "574efd63daeb8464aad80dd5d961a17f9deb62c89a4efa916a8927b95f552b5f")
        #expect(record["samples"] as? Int == 16 && record["tokens"] as? Int == 128 && record["method"] as? String == "gptq")
        #expect((record["seconds"] as? Double ?? -1) >= 0 && (record["peakRSS"] as? Int ?? 0) > 0)
        let awq = try JSONSerialization.jsonObject(with: Data((runs[3]["calibration"] as String? ?? "{}").utf8)) as! [String: Any]
        #expect(awq["text"] as? String == "wikitext-2-raw:train" && awq["samples"] as? Int == 4 && awq["seed"] as? Int == 0)
        #expect(runs[1]["calibration"] as String? == nil)
        for k in 1..<4 { #expect((runs[k]["kl_mean"] as Double? ?? -1) > 0) }
        let report = try String(contentsOfFile: dir + "/e2e-calibration/report.md", encoding: .utf8)
        #expect(report.contains("| calibration data |"))
        #expect(report.contains("574efd63daeb"))
        #expect(report.contains("wikitext-2-raw:train, seed 0, 4 × 64 tokens"))
    }

    @Test func badCalibrationSectionsAreValidationErrors() throws {
        let dir = Exprun.temporaryDirectory()
        let file = Exprun.write("""
            name: e2e-calibration-bad
            model: \(Exprun.tinyModel)
            quantizations:
              - {method: gptq, calibration: {text: wikitext-2-raw:train, samples: 0}}
              - {method: q8_0, calibration: {text: wikitext-2-raw:train}}
              - {method: awq, calibration: {ids: x.safetensors, seed: 3}}
              - {method: gptq, calibration: {txt: wikitext-2-raw:train}}
            prompts: [Once]
            """, to: dir)
        let result = try Exprun.run(["validate", file])
        #expect(result.status != 0)
        for expected in ["quantizations[0].calibration.samples: must be at least 1",
                         "quantizations[1].calibration: q8_0 does not calibrate",
                         "quantizations[2].calibration.seed: `ids` gives the token windows themselves",
                         "quantizations[3].calibration.txt: unknown key `txt`; did you mean `text`?"] {
            #expect(result.stderr.contains(expected) || result.stdout.contains(expected), "missing: \(expected)\n\(result.stderr)")
        }
    }

    /// A Llama from GGUF quantized with GPTQ into a Hugging Face directory, which an experiment then
    /// names as its model: run on its packed codes (`as-stored`) and dequantized (`fp32`). The
    /// directory is given GPT-2's tokenizer files (the GGUF's vocabulary is not written): the
    /// one-letter prompt and the fixture's small vocabulary stay within both.
    @Test func llamaCheckpointsAreWrittenAndNamedAsModels() throws {
        let dir = Exprun.temporaryDirectory()
        let ckpt = dir + "/llama-gptq"
        let gguf = Exprun.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/decoders/llama-linear.gguf").path
        let q = try Exprun.run(["quantize", gguf, "--to", "gptq", "--group-size", "32", "--desc-act", "--calibration", "wikitext-2-raw:train",
                                "--samples", "2", "--tokens", "16", "--tokenizer", Exprun.sharedData.appendingPathComponent("gpt2-tokenizer").path,
                                "--out", ckpt, "--threads", "1"])
        #expect(q.status == 0, "\(q.stderr)")
        let config = try String(contentsOfFile: ckpt + "/config.json", encoding: .utf8)
        #expect(config.contains("\"model_type\": \"llama\"") && config.contains("\"desc_act\": true") && config.contains("\"group_size\": 32"))
        let db = dir + "/exprun.sqlite"
        let file = Exprun.write("""
            name: e2e-llama-gptq
            model: \(ckpt)
            quantizations: [as-stored, fp32]
            prompts: [Q]
            generate: {max_new_tokens: 4}
            measure: {repeats: 1, warmup: 0, baseline: fp32}
            """, to: dir)
        let result = try Exprun.run([file, "--db", db])
        #expect(result.status == 0, "\(result.stderr)")
        let runs = try rows(db, "SELECT * FROM run ORDER BY id")
        #expect(runs.count == 2 && runs.allSatisfy { $0["status"] as String == "ok" }, "\(result.stderr)")
        let report = try String(contentsOfFile: dir + "/e2e-llama-gptq/report.md", encoding: .utf8)
        #expect(report.contains("gptq"), "the report names the stored format of the as-stored run")
    }

    /// An AWQ checkpoint of a Llama (the AutoAWQ-packed fixture) read, dequantized, calibrated with
    /// GPTQ on given token ids and written: its config.json is made anew (the source's has a
    /// quantization_config of its own), is valid JSON, and the result loads and runs.
    @Test func quantizedHuggingFaceLlamasAreRequantized() throws {
        let dir = Exprun.temporaryDirectory()
        // ids [2, 16] within the fixture's 96-token vocabulary, as an I32 safetensors file.
        let ids = (0..<32).map { Int32(($0 * 37 + 5) % 96) }
        var header = #"{"ids":{"dtype":"I32","shape":[2,16],"data_offsets":[0,128]}}"#
        while header.utf8.count % 8 != 0 { header += " " }
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        for v in ids { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: dir + "/ids.safetensors"))
        let source = Exprun.packageRoot.appendingPathComponent("Tests/InferenceCoreTests/Oracles/hf-quant/llama-awq-g32").path
        let out = dir + "/requantized"
        let q = try Exprun.run(["quantize", source, "--to", "gptq", "--group-size", "16", "--calibration-ids", dir + "/ids.safetensors",
                                "--out", out, "--threads", "1"])
        #expect(q.status == 0, "\(q.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any]
        let quant = config?["quantization_config"] as? [String: Any]
        #expect(config?["model_type"] as? String == "llama" && quant?["quant_method"] as? String == "gptq" && quant?["group_size"] as? Int == 16)
        let l = try Exprun.run(["logits", out, "--quant", "as-stored", "--tokens", "1,2,3", "--out", dir + "/logits.safetensors"])
        #expect(l.status == 0, "\(l.stderr)")
    }
}
