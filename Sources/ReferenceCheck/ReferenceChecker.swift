import CLIPTokenizer
import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import Imaging
import TensorCore
import TensorStorage
import Weights

/// Runs every case of a golden manifest through the port — the networks from the case's
/// weights and configuration, the inputs from its golden files — and compares every tensor the
/// files hold with what the port computes. Optionally writes the computed tensors (`dump`).
public struct ReferenceChecker {
    public let manifest: GoldenManifest
    public let context: ComputeContext

    public init(manifest: GoldenManifest, context: ComputeContext) {
        self.manifest = manifest
        self.context = context
    }

    /// Checks every case; `report` is told of each tensor as soon as it is compared. A case whose
    /// model or golden files cannot be used at all throws.
    /// `loaded` hears `loaded CASE (PRECISION) in N.N s (X.X GiB resident)` after each case's model is built.
    public func run(dump: String? = nil, cases selected: Set<String>? = nil, loaded: (String) -> Void = { _ in },
                    report: (TensorCheck) -> Void = { _ in }) throws -> ReferenceReport {
        var checks: [TensorCheck] = []
        for c in manifest.cases where selected?.contains(c.name) ?? true {
            let archive = try MergedArchive.open(c.weightPaths.isEmpty
                ? [(c.directory as NSString).appendingPathComponent("weights.safetensors")] : c.weightPaths)
            let (model, summary) = try AnimationModel.timedLoad(name: c.name, precision: context.precision) {
                try AnimationModel(archive: archive, config: c.config, context: context)
            }
            loaded(summary)
            for file in c.files {
                let computed: Computed
                switch Self.kind(of: file.name) {
                case .weights: computed = try checkpointTensors(file, reference: archive, config: c.config)
                case .textEncoder: computed = try textEncoder(file, model: model)
                case .imageVision: computed = try imageVision(file, model: model)
                case .vae: computed = try vae(file, model: model)
                case .unet: computed = try unet(file, model: model)
                case .sampling: computed = try sampling(file, model: model)
                case .primaryWeights, .unknown: continue
                }
                let golden = try WeightFile.open(file.path)
                for name in computed.order {
                    guard let value = computed.values[name] else { continue }
                    let check: TensorCheck
                    if golden.contains(name) {
                        let g = try golden.tensor(named: name)
                        check = TensorCheck.compare(caseName: c.name, file: file.name, name: name,
                                                    computed: value.tensor.scalars, computedShape: value.tensor.shape,
                                                    golden: g.toTensor().scalars, goldenShape: g.shape,
                                                    tolerance: Self.tolerance(file: file.name, name: name, dtype: g.dtype))
                    } else {
                        continue
                    }
                    checks.append(check)
                    report(check)
                }
                // Golden outputs the port did not produce are failures, not silence.
                for name in golden.names where !computed.inputs.contains(name) && computed.values[name] == nil {
                    let check = TensorCheck(caseName: c.name, file: file.name, name: name, maxAbsolute: .infinity,
                                            relative: .infinity, tolerance: .relative(0), passed: false,
                                            note: "not computed by the port")
                    checks.append(check)
                    report(check)
                }
                if let dump { try write(computed, case: c.name, file: file.name, under: dump) }
            }
        }
        return ReferenceReport(checks: checks)
    }

    // MARK: - File kinds

    enum Kind { case primaryWeights, weights, textEncoder, imageVision, vae, unet, sampling, unknown }

    static func kind(of name: String) -> Kind {
        if name == "weights.safetensors" || name.hasPrefix("weights-part") { return .primaryWeights }
        if name.hasPrefix("weights") { return .weights }
        if name.hasPrefix("text_encoder") { return .textEncoder }
        if name.hasPrefix("image_vision") { return .imageVision }
        if name.hasPrefix("vae") { return .vae }
        if name.hasPrefix("unet") { return .unet }
        if name.hasPrefix("sampling") { return .sampling }
        return .unknown
    }

    /// Tolerances: 1e-4 relative (max |a − g| / max |g|) for every float tensor, whole sampling
    /// runs included. The manifest suggests looser bounds for sampling (1e-3 on the final latent,
    /// 2e-3 absolute on the video) because guidance multiplies differences by 7.5 every step;
    /// over the goldens' 5 steps the port stays within ~1e-5, so the stricter bound still has a
    /// 10× margin and catches real bugs (which show at ≥1e-2). Alternative checkpoint files must
    /// match exactly; uint8 frames may differ by 1 on under 1% of values (truncation at bin edges).
    static func tolerance(file: String, name: String, dtype: DType) -> Tolerance {
        if kind(of: file) == .weights { return .absolute(0) }
        if dtype == .u8 { return .integers(maxDifference: 1, fraction: 0.01) }
        if !dtype.isFloatingPoint { return .integers(maxDifference: 0, fraction: 0) }
        return .relative(1e-4)
    }

    // MARK: - Computation per file

    struct Value {
        var tensor: Tensor
        var dtype: DType = .f32
    }

    /// Computed tensors in a stable order, plus the golden names that are inputs (not checked).
    struct Computed {
        var values: [String: Value] = [:]
        var order: [String] = []
        var inputs: Set<String> = []

        mutating func set(_ name: String, _ tensor: Tensor, dtype: DType = .f32) {
            if values[name] == nil { order.append(name) }
            values[name] = Value(tensor: tensor, dtype: dtype)
        }
    }

    private func goldenFile(_ file: GoldenManifest.File) throws -> any WeightArchive {
        do { return try WeightFile.open(file.path) } catch {
            throw ReferenceCheckError.golden(file.path, "cannot open: \(error)")
        }
    }

    private func input(_ archive: any WeightArchive, _ name: String) throws -> Tensor {
        guard archive.contains(name) else { throw ReferenceCheckError.golden(archive.path, "no input tensor \(name)") }
        return try archive.tensor(named: name).toTensor()
    }

    private func ints(_ archive: any WeightArchive, _ name: String) throws -> [Int] {
        try input(archive, name).scalars.map { Int($0) }
    }

    /// A checkpoint in another format or naming (`weights_framestride.ckpt`): it must pass the
    /// manifest check (legacy names accepted) and every tensor must equal the primary weights'
    /// tensor of its canonical name, bit for bit.
    func checkpointTensors(_ file: GoldenManifest.File, reference: any WeightArchive, config: ModelConfig) throws -> Computed {
        let archive = try WeightFile.open(file.path)
        _ = try ParameterManifest(config: config).validate(archive)
        var c = Computed()
        for name in archive.names {
            let canonical = CheckpointKeys.canonical(name)
            guard reference.contains(canonical) else {
                throw ReferenceCheckError.golden(file.path, "tensor \(name) has no counterpart \(canonical) in the primary weights")
            }
            c.set(name, try reference.tensor(named: canonical).toTensor())
        }
        return c
    }

    func textEncoder(_ file: GoldenManifest.File, model: AnimationModel) throws -> Computed {
        let g = try goldenFile(file)
        var c = Computed()
        let ids: [[Int32]]
        if file.prompts.isEmpty {
            let t = try input(g, "ids")
            let n = t.shape[0], l = t.shape[1]
            ids = (0..<n).map { i in t.scalars[(i * l)..<((i + 1) * l)].map { Int32($0) } }
            c.inputs.insert("ids")
        } else {
            ids = file.prompts.map { model.tokenizer.tokenize($0) }
            c.set("ids", try Tensor(shape: [ids.count, ids[0].count], scalars: ids.flatMap { $0.map(Float.init) }), dtype: .i64)
        }
        var taps: [String: Tensor] = [:]
        let out = try model.textEncoder.encode(tokens: ids) { name, t in taps[name] = t }
        for name in taps.keys.sorted() { c.set("tap.\(name)", taps[name]!) }
        c.set("out", out)
        return c
    }

    func imageVision(_ file: GoldenManifest.File, model: AnimationModel) throws -> Computed {
        let g = try goldenFile(file)
        var c = Computed()
        c.inputs = ["src_u8"]
        let src = try g.tensor(named: "src_u8")
        guard src.shape.count == 3, src.shape[2] == 3 else {
            throw ReferenceCheckError.golden(file.path, "src_u8 is not [H, W, 3]")
        }
        let image = try RGBImage(width: src.shape[1], height: src.shape[0], pixels: src.toTensor().scalars.map { UInt8($0) })
        let target = try g.requireInfo(named: "resized_u8").shape
        let resized = try ImagePreprocessing.resizeAndCenterCrop(image, height: target[0], width: target[1])
        c.set("resized_u8", try Tensor(shape: [resized.height, resized.width, 3], scalars: resized.pixels.map(Float.init)), dtype: .u8)
        let img = ImagePreprocessing.normalizedTensor(resized)
        c.set("img", img)
        for (prefix, picture) in [("", img), ("zero.", Tensor(zeros: img.shape))] {
            let clipIn = try ImagePreprocessing.clipPreprocess(picture)
            if prefix.isEmpty {
                c.set("clip_in", clipIn)
            } else {
                let plane = clipIn.shape[2] * clipIn.shape[3]
                c.set("zero.clip_in_per_channel", try Tensor(shape: [3], scalars: (0..<3).map { clipIn.scalars[$0 * plane] }))
            }
            var taps: [String: Tensor] = [:]
            let tokens = try model.visionEncoder.encode(clipIn) { name, t in taps[name] = t }
            for name in taps.keys.sorted() { c.set("\(prefix)tap.\(name)", taps[name]!) }
            c.set("\(prefix)tokens", tokens)
            var resamplerTaps: [String: Tensor] = [:]
            let emb = try model.resampler(tokens) { name, t in resamplerTaps[name] = t }
            for name in resamplerTaps.keys.sorted() { c.set("\(prefix)tap.res.\(name)", resamplerTaps[name]!) }
            c.set("\(prefix)img_emb", emb)
        }
        return c
    }

    func vae(_ file: GoldenManifest.File, model: AnimationModel) throws -> Computed {
        let g = try goldenFile(file)
        var c = Computed()
        c.inputs = ["x", "noise"]
        let perFrame = file.perframeAE ?? false
        let x = try input(g, "x")
        var taps: [String: Tensor] = [:]
        let post = try model.vae.encodeMoments(frames: x, perFrame: perFrame) { name, t in taps[name] = t }
        if !perFrame {
            if let t = taps["enc_out"] { c.set("tap.enc_out", try Layout.nhwcToNCHW(t)) }
            if let t = taps["moments"] { c.set("moments", try Layout.nhwcToNCHW(t)) }
        } else {
            c.inputs.formUnion(["tap.enc_out", "moments"])
        }
        c.set("mean", post.mean)
        c.set("logvar", post.logvar)
        c.set("std", post.std)
        let z = try model.vae.sample(mean: post.mean, std: post.std, noise: input(g, "noise"))
        let zShape = try g.requireInfo(named: "z").shape  // [b, c, T, h, w]
        let video = { (t: Tensor, shape: [Int]) throws -> Tensor in
            try t.reshaped([shape[0], shape[2], shape[1], shape[3], shape[4]]).permuted([0, 2, 1, 3, 4])
        }
        c.set("z", try video(z, zShape))
        var decodeTaps: [String: Tensor] = [:]
        let dec = try model.vae.decode(scaledLatent: z, perFrame: perFrame) { name, t in decodeTaps[name] = t }
        if !perFrame {
            if let t = decodeTaps["post_quant"] { c.set("tap.post_quant", try Layout.nhwcToNCHW(t)) }
            if let t = decodeTaps["dec_mid"] { c.set("tap.dec_mid", try Layout.nhwcToNCHW(t)) }
        } else {
            c.inputs.formUnion(["tap.post_quant", "tap.dec_mid"])
        }
        let decShape = try g.requireInfo(named: "dec").shape
        c.set("dec", try video(dec, decShape))
        return c
    }

    func unet(_ file: GoldenManifest.File, model: AnimationModel) throws -> Computed {
        let g = try goldenFile(file)
        var c = Computed()
        c.inputs = ["b1.x", "b1.t", "b1.context", "b1.fs", "b2.x", "b2.t", "b2.context", "b2.fs"]
        var taps: [String: Tensor] = [:]
        let x = try input(g, "b1.x"), t = try ints(g, "b1.t"), ctx = try input(g, "b1.context"), fs = try ints(g, "b1.fs")
        let out = try model.unet(x: x, timesteps: t, context: ctx, fs: fs) { name, v in taps[name] = v }
        for name in taps.keys.sorted() where g.contains("b1.tap.\(name)") { c.set("b1.tap.\(name)", taps[name]!) }
        c.set("b1.out", out)
        if g.contains("b1_default_fs.out") {
            c.set("b1_default_fs.out", try model.unet(x: x, timesteps: t, context: ctx, fs: nil))
        }
        if g.contains("b2.x") {
            let x2 = try input(g, "b2.x"), t2 = try ints(g, "b2.t"), ctx2 = try input(g, "b2.context"), fs2 = try ints(g, "b2.fs")
            c.set("b2.out", try model.unet(x: x2, timesteps: t2, context: ctx2, fs: fs2))
            if g.contains("b1_uncond.out") {
                // The unconditional half of the batch, run alone.
                c.set("b1_uncond.out", try model.unet(x: x2.sliced(along: 0, range: 1..<2), timesteps: [t2[1]],
                                                      context: ctx2.sliced(along: 0, range: 1..<2), fs: [fs2[1]]))
            }
        }
        return c
    }

    func sampling(_ file: GoldenManifest.File, model: AnimationModel) throws -> Computed {
        let g = try goldenFile(file)
        var c = Computed()
        c.inputs = ["video", "fs", "enc_noise", "x_T", "step_noise", "timesteps"]
        let video = try input(g, "video")  // [1, 3, T, H, W]
        guard video.rank == 5 else { throw ReferenceCheckError.golden(file.path, "video is not [1, 3, T, H, W]") }
        let frames = video.shape[2]
        func frame(_ i: Int) throws -> Tensor {
            try video.sliced(along: 2, range: i..<(i + 1)).reshaped([1, 3, video.shape[3], video.shape[4]])
        }
        let mode: AnimationMode = file.flag("interp") ? .interpolate : file.flag("loop") ? .loop : .animate
        var options = AnimationOptions(prompt: file.flag("text_input") ? (file.prompts.first ?? "") : "")
        options.frames = frames
        options.steps = file.number("ddim_steps").map { Int($0) }
        options.eta = file.number("ddim_eta")
        options.guidanceScale = file.number("unconditional_guidance_scale")
        options.guidanceRescale = file.number("guidance_rescale")
        options.frameStride = try ints(g, "fs").first
        options.mode = mode
        options.perFrameVAE = file.flag("perframe_ae")
        options.timestepSpacing = file.string("timestep_spacing").flatMap(DDIMTimestepSpacing.init(rawValue:))
        if file.flag("multiple_cond_cfg") { options.imageGuidanceScale = file.number("cfg_img") }
        let settings = try AnimationSettings(options: options, defaults: .inferred(from: model.config))

        var noise = ReplayNoise([try input(g, "enc_noise"), try input(g, "x_T"), try input(g, "step_noise")])
        var perStep: [String: [Tensor]] = [:]
        var stepOrder: [String] = []
        var hooks = AnimationHooks()
        hooks.encodeAllFrames = true
        hooks.trace = { name, t in
            if name.hasPrefix("step.") {
                if perStep[name] == nil { stepOrder.append(name) }
                perStep[name, default: []].append(t)
            } else {
                c.set(name, t)
            }
        }
        let pipeline = AnimationPipeline(model: model)
        let result = try pipeline.run(image: frame(0), endImage: mode == .interpolate ? frame(frames - 1) : nil,
                                      settings: settings, noise: &noise, hooks: hooks)
        for name in stepOrder {
            let steps = perStep[name] ?? []
            c.set(name, try Tensor.concatenated(steps.map { try $0.reshaped([1] + $0.shape) }, along: 0))
        }
        // The per-step scalars of the schedule.
        let schedule = try DDIMSchedule(schedule: model.noiseSchedule, steps: settings.steps, spacing: settings.timestepSpacing,
                                        eta: settings.eta, dynamicRescaleBase: model.dynamicRescaleBase)
        let visited = schedule.steps
        c.set("timesteps", try Tensor(shape: [visited.count], scalars: visited.map { Float($0.timestep) }), dtype: .i64)
        c.inputs.remove("timesteps")
        c.set("step.a_t", try Tensor(shape: [visited.count], scalars: visited.map(\.alpha)))
        c.set("step.a_prev", try Tensor(shape: [visited.count], scalars: visited.map(\.alphaPrev)))
        c.set("step.sigma_t", try Tensor(shape: [visited.count], scalars: visited.map(\.sigma)))
        c.set("step.sqrt_one_minus_at", try Tensor(shape: [visited.count], scalars: visited.map(\.sqrtOneMinusAlpha)))
        if schedule.scales != nil {
            c.set("step.scale_t", try Tensor(shape: [visited.count], scalars: visited.map { $0.scale ?? .nan }))
            c.set("step.prev_scale_t", try Tensor(shape: [visited.count], scalars: visited.map { $0.scalePrev ?? .nan }))
        }
        let f = result.frames
        if let first = f.first {
            c.set("frames_u8", try Tensor(shape: [f.count, first.height, first.width, 3],
                                         scalars: f.flatMap { $0.pixels.map(Float.init) }), dtype: .u8)
        }
        return c
    }

    // MARK: - Dump

    private func write(_ computed: Computed, case caseName: String, file: String, under root: String) throws {
        let dir = (root as NSString).appendingPathComponent(caseName)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let base = (file as NSString).deletingPathExtension
        let path = (dir as NSString).appendingPathComponent(base + ".safetensors")
        let tensors: [(name: String, tensor: TensorData)] = try computed.order.compactMap { name in
            guard let v = computed.values[name] else { return nil }
            let data = TensorData(v.tensor)
            return (name, v.dtype == .f32 ? data : try Self.integerData(v.tensor, dtype: v.dtype))
        }
        try SafetensorsWriter.write(tensors, metadata: ["source": "dynamicrafter check-reference"], to: path)
    }

    /// Float values that are integers, stored as i64 or u8 like the golden files.
    static func integerData(_ t: Tensor, dtype: DType) throws -> TensorData {
        var bytes: [UInt8] = []
        switch dtype {
        case .u8: bytes = t.scalars.map { UInt8(clamping: Int($0)) }
        default:
            for v in t.scalars { withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return try TensorData(dtype: dtype == .u8 ? .u8 : .i64, shape: t.shape, storage: ByteStorage(bytes))
    }
}
