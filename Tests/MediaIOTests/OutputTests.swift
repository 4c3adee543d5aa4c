import Foundation
import MediaIO
import Testing

/// Atomic output, refusals before any work, overwriting rules and cancellation.
@Suite struct OutputTests {
    private func expectFailure(_ kind: MediaError.Kind, _ body: () throws(MediaError) -> Void) {
        do {
            try body()
            Issue.record("expected \(kind), the write succeeded")
        } catch {
            #expect(error.kind == kind, "\(error)")
        }
    }

    @Test("Format from the path: extension, trailing slash, folder, no extension; unknown ones refused")
    func inferred() throws {
        let directory = try ScratchDirectory()
        #expect(try VideoFormat.inferred(fromPath: "out/clip.mp4") == .mp4)
        #expect(try VideoFormat.inferred(fromPath: "CLIP.WebM") == .webm)
        #expect(try VideoFormat.inferred(fromPath: "/tmp/a.b/loop.gif") == .gif)
        #expect(try VideoFormat.inferred(fromPath: "frames/") == .png)
        #expect(try VideoFormat.inferred(fromPath: "frames") == .png)
        #expect(try VideoFormat.inferred(fromPath: "out/.hidden") == .png)
        #expect(try VideoFormat.inferred(fromPath: directory.path) == .png)
        try FileManager.default.createDirectory(atPath: directory.file("looks.mp4"), withIntermediateDirectories: false)
        #expect(try VideoFormat.inferred(fromPath: directory.file("looks.mp4")) == .png)
        for path in ["clip.avi", "frame.png", "x.tar.gz"] {
            #expect {
                try VideoFormat.inferred(fromPath: path)
            } throws: { error in
                (error as? MediaError)?.kind == .unsupportedFormat && "\(error)".contains(path)
            }
        }
    }

    @Test("No frames, mixed sizes and bad rates are refused; nothing is created", arguments: VideoFormat.allCases)
    func refusedUpFront(format: VideoFormat) throws {
        let directory = try ScratchDirectory()
        let path = directory.file("out." + format.rawValue)
        let good = try TestFrames.gradients(count: 2, width: 16, height: 12)
        // A frame with too few bytes cannot be built: `RGBImage`'s initialiser refuses it.
        let mixed = good + (try TestFrames.gradients(count: 1, width: 16, height: 14))
        expectFailure(.invalidInput) { () throws(MediaError) in try VideoEncoder.write(frames: [], fps: 8, to: path, format: format) }
        expectFailure(.invalidInput) { () throws(MediaError) in try VideoEncoder.write(frames: mixed, fps: 8, to: path, format: format) }
        expectFailure(.invalidInput) { () throws(MediaError) in try VideoEncoder.write(frames: good, fps: 0, to: path, format: format) }
        expectFailure(.io) { () throws(MediaError) in
            try VideoEncoder.write(frames: good, fps: 8, to: directory.file("missing/out." + format.rawValue), format: format)
        }
        #expect(try directory.contents().isEmpty)
    }

    @Test("Cancelled midway: no output and no temporary left", arguments: VideoFormat.allCases)
    func cancelled(format: VideoFormat) throws {
        let directory = try ScratchDirectory()
        let path = directory.file("out." + format.rawValue)
        let frames = try TestFrames.gradients(count: 8, width: 32, height: 24)
        let cancel = CancelAfter(4)
        expectFailure(.cancelled) { () throws(MediaError) in
            try VideoEncoder.write(frames: frames, fps: 8, to: path, format: format, isCancelled: cancel.check)
        }
        #expect(cancel.count >= 4)
        #expect(try directory.contents().isEmpty)
    }

    @Test("A failed encode leaves an earlier file untouched")
    func failureKeepsOld() throws {
        let directory = try ScratchDirectory()
        let path = try directory.write(Array("earlier clip".utf8), to: "clip.gif")
        let frames = try TestFrames.blocks(count: 4, width: 20, height: 20)
        expectFailure(.cancelled) { () throws(MediaError) in
            try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .gif, isCancelled: CancelAfter(3).check)
        }
        #expect(try directory.contents() == ["clip.gif"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("earlier clip".utf8))
    }

    @Test("Files: replaced when overwriting, refused (and kept) when not")
    func overwriteFile() throws {
        let directory = try ScratchDirectory()
        let path = try directory.write(Array("earlier clip".utf8), to: "clip.gif")
        let frames = try TestFrames.blocks(count: 2, width: 20, height: 20)
        expectFailure(.io) { () throws(MediaError) in
            try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .gif, overwrite: false)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("earlier clip".utf8))
        try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .gif)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(6) == Data("GIF89a".utf8))
        #expect(try directory.contents() == ["clip.gif"])
        // A folder where a file should go is never replaced.
        try FileManager.default.createDirectory(atPath: directory.file("dir.mp4"), withIntermediateDirectories: false)
        expectFailure(.io) { () throws(MediaError) in
            try VideoEncoder.write(frames: frames, fps: 8, to: directory.file("dir.mp4"), format: .mp4)
        }
    }

    @Test("PNG folders: an empty folder is filled, earlier frames are replaced, other files are never touched")
    func overwriteFolder() throws {
        let directory = try ScratchDirectory()
        let folder = directory.file("frames")
        let frames = try TestFrames.blocks(count: 3, width: 20, height: 10)
        func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try VideoEncoder.write(frames: frames + frames + frames + frames, fps: 8, to: folder, format: .png, overwrite: false)
        #expect(try names().count == 12)

        // Not empty: refused without overwrite, replaced with it (12 old frames become 3).
        expectFailure(.io) { () throws(MediaError) in try VideoEncoder.write(frames: frames, fps: 8, to: folder, format: .png, overwrite: false) }
        #expect(try names().count == 12)
        try VideoEncoder.write(frames: frames, fps: 8, to: folder, format: .png)
        #expect(try names() == ["frame_0000.png", "frame_0001.png", "frame_0002.png"])
        #expect(try ImageDecoder.decode(path: "\(folder)/frame_0002.png") == frames[2])

        // Somebody else's file in the folder: refused even when overwriting.
        _ = try directory.write(Array("keep me".utf8), to: "frames/notes.txt")
        expectFailure(.io) { () throws(MediaError) in try VideoEncoder.write(frames: frames, fps: 8, to: folder, format: .png) }
        #expect(try names().contains("notes.txt") && names().count == 4)
        #expect(try directory.contents() == ["frames"])
    }
}
