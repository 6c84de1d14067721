import Foundation

/// Runs real programs (cp, dd, sha256sum, swiftclient, the daemon) for the tests.
public enum Shell {
    public struct Output {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `args` to completion. `environment` replaces the inherited one when given.
    @discardableResult
    public static func run(_ args: [String], environment: [String: String]? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        // A pipe, closed at once: a child reading stdin sees EOF.
        let input = Pipe()
        process.standardInput = input
        try process.run()
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting, or a chatty child blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a bash script line; throws with its stderr if it fails.
    @discardableResult
    public static func bash(_ script: String, environment: [String: String]? = nil) throws -> String {
        let result = try run(["bash", "-c", "set -o pipefail; " + script], environment: environment)
        guard result.status == 0 else {
            throw Failure(description: "`\(script)` exited \(result.status): \(result.stderr.suffix(2000))")
        }
        return result.stdout
    }

    /// Starts a bash script in the background; `finish` waits for it and checks its status.
    public static func background(_ script: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -o pipefail; " + script]
        try process.run()
        return process
    }

    public static func finish(_ process: Process) throws {
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "background script exited \(process.terminationStatus)")
        }
    }

    public static func sha256(_ path: String) throws -> String {
        String(try bash("sha256sum \(quote(path))").prefix(64))
    }

    public static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }
}
