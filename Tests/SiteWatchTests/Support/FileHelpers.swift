import Foundation
import Glibc
import PurgeCore

@testable import SiteWatch

/// A fresh directory under /tmp, removed at deinit.
final class Scratch: @unchecked Sendable {
    let path: String
    init(_ label: String = "sitewatch") {
        var template = Array("/tmp/pw-\(label)-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit { _ = shell("rm -rf '\(path)'") }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

func join(_ base: String, _ relative: [UInt8]) -> [UInt8] { Array(base.utf8) + [0x2F] + relative }

/// Writes `content` to the file (raw-byte path), truncating it in place.
func writeFile(_ path: [UInt8], _ content: String) {
    let fd = FileSystem.withCString(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
    precondition(fd >= 0, "open \(RelativePath(path)) failed: errno \(errno)")
    let data = Array(content.utf8)
    _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func writeFile(_ base: String, _ relative: String, _ content: String) {
    writeFile(join(base, bytes(relative)), content)
}

func makeDirectories(_ path: [UInt8]) {
    var current: [UInt8] = []
    for component in path.split(separator: 0x2F, omittingEmptySubsequences: false) {
        current += component
        if !current.isEmpty { _ = FileSystem.withCString(current) { mkdir($0, 0o755) } }
        current.append(0x2F)
    }
}

func makeDirectories(_ base: String, _ relative: String) { makeDirectories(join(base, bytes(relative))) }

func makeDirectories(_ path: String) { makeDirectories(Array(path.utf8)) }

func renamePath(_ from: [UInt8], _ to: [UInt8]) {
    let rc = FileSystem.withCString(from) { f in FileSystem.withCString(to) { t in rename(f, t) } }
    precondition(rc == 0, "rename failed: errno \(errno)")
}

func removeFile(_ path: [UInt8]) {
    _ = FileSystem.withCString(path) { unlink($0) }
}

func symlinkPath(target: String, at path: String) {
    precondition(symlink(target, path) == 0, "symlink failed: errno \(errno)")
}

/// Runs a shell command; returns its exit status. Output goes to the test log only on failure.
///
/// The output goes to a file, not a pipe read to its end: a process another test spawns at the
/// same moment could inherit the pipe's write end and hold the read — and a cooperative thread —
/// for as long as it lives (the 60 s stalls of the test process).
@discardableResult
func shell(_ command: String) -> Int32 {
    let outputPath = "/tmp/pw-shell-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out"
    defer { unlink(outputPath) }
    guard FileManager.default.createFile(atPath: outputPath, contents: nil),
        let output = FileHandle(forWritingAtPath: outputPath)
    else { return -1 }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.standardOutput = output
    process.standardError = output
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    try? output.close()
    if process.terminationStatus != 0 {
        FileHandle.standardError.write(
            "command failed (\(process.terminationStatus)): \(command)\n".data(using: .utf8)!)
        FileHandle.standardError.write(FileManager.default.contents(atPath: outputPath) ?? Data())
    }
    return process.terminationStatus
}

func toolExists(_ name: String) -> Bool { shell("command -v \(name) >/dev/null 2>&1") == 0 }
