// swift-tools-version: 6.0
import PackageDescription

// Layers, each importing only the one below it:
//   CFuse / CCurl / CCrypto / CSystem  (C interop: module maps and shims)
//   SwiftStorage             (object-storage client: HTTP, auth, ConnectionManager, Swift API; no FUSE)
//   SwiftMountFS             (the filesystem: namespace, upload and read engines, FUSE ops)
//   swiftmount               (the command)
// SwiftSimulator (tests only) answers SwiftStorage's HTTPTransport as Swift and Keystone would.
let package = Package(
    name: "swiftmount",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swiftmount", targets: ["swiftmount"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // clouds.yaml / secure.yaml, as the OpenStack client reads them.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The command line: subcommands, --help for each, shell completion.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Compact hash tables for the attribute cache of directories of 100,000 names.
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // OpenSSL's MD5 for ETags (libcurl's TLS already brings libcrypto).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSystem"),
        .target(
            name: "SwiftStorage",
            dependencies: ["CCurl", "CCrypto", "Yams", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "SwiftMountFS",
            dependencies: ["SwiftStorage", "CFuse", "CSystem", .product(name: "Logging", package: "swift-log"),
                           .product(name: "OrderedCollections", package: "swift-collections")]
        ),
        .executableTarget(
            name: "swiftmount",
            dependencies: ["SwiftMountFS", "SwiftStorage", "CSystem", .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // An in-process Swift + Keystone behind HTTPTransport, for the model suite and fast
        // tests (never in the shipped binary).
        .target(name: "SwiftSimulator", dependencies: ["SwiftStorage"]),
        // Helpers for tests against the real dev stack (processes, credentials, mounts).
        .target(name: "TestSupport", dependencies: ["SwiftStorage"], path: "Tests/TestSupport"),
        .testTarget(name: "SwiftStorageTests", dependencies: ["SwiftStorage", "SwiftSimulator", "TestSupport"]),
        .testTarget(name: "MountTests", dependencies: ["SwiftMountFS", "SwiftStorage", "TestSupport"]),
        // The filesystem against a reference model, over the simulator: no root, FUSE or stack.
        .testTarget(name: "ModelTests", dependencies: ["SwiftMountFS", "SwiftStorage", "SwiftSimulator", "CSystem",
                                                       .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
