/// A token, password or key. It prints as a placeholder so it cannot leak into logs or errors
/// through string interpolation; `reveal` is spelled out where the value must go on the wire.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let reveal: String

    public init(_ value: String) { reveal = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var isEmpty: Bool { reveal.isEmpty }
}
