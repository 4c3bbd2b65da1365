/// One argument of `purgewatch purge` (SPEC §2), checked before anything is queued.
///
/// An argument starting with `http://` or `https://` is a URL: it must contain no control byte
/// or space (a newline would corrupt the stored batch) and, unless `anyURL`, lie under one of the
/// rules' `urls` (a typo'd host would only burn quota). Anything else is a path, relative to the
/// root or absolute under it, with no `..` segment; it is mapped through the rules.
public enum ManualTarget {
    /// Why an argument was refused; `message` names the argument and says what to do.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var argument: String
        public var message: String
        public var description: String { "\(argument): \(message)" }
    }

    /// The URLs (with the path they came from, for paths) of one argument.
    public static func resolve(
        _ raw: [UInt8], config: SiteConfig, mapper: PathMapper, anyURL: Bool
    ) -> Result<[(url: String, path: [UInt8]?)], Refusal> {
        let shown = RelativePath.escaped(raw)
        let text = String(decoding: raw, as: UTF8.self)
        if let scheme = Self.scheme(of: raw) {
            let lowered = scheme.lowercased()
            guard lowered == "http" || lowered == "https" else {
                return .failure(Refusal(argument: shown, message: "only http:// and https:// URLs can be purged"))
            }
            if let bad = raw.first(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x20 }) {
                let what = bad == 0x20 ? "a space" : "a control character (byte 0x\(String(bad, radix: 16, uppercase: true)))"
                return .failure(Refusal(argument: shown, message: "the URL contains \(what); percent-encode it"))
            }
            if String(validating: raw, as: UTF8.self) == nil {
                return .failure(Refusal(argument: shown, message: "the URL is not valid UTF-8; percent-encode it"))
            }
            // The scheme and host compare case-insensitively; the path exactly, as the CDN keys it.
            let afterScheme = text.dropFirst(scheme.count + 3)
            let hostEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
            let pathPart = afterScheme[hostEnd...]
            let url = lowered + "://" + afterScheme[..<hostEnd].lowercased() + pathPart
            let segments = pathPart.prefix { $0 != "?" && $0 != "#" }.split(separator: "/", omittingEmptySubsequences: false)
            if segments.contains(where: { $0 == "." || $0 == ".." }) {
                return .failure(
                    Refusal(argument: shown, message: "the URL has a \".\" or \"..\" segment; give the URL the CDN caches"))
            }
            if let escape = Self.invalidPercentEscape(in: Array(url.utf8)) {
                return .failure(
                    Refusal(
                        argument: shown,
                        message: "the URL has \"\(escape)\", which is not a percent-escape (% and two hex digits); write % as %25"))
            }
            let bases = config.rules.flatMap(\.urls)
            if !anyURL && !bases.contains(where: { url.hasPrefix($0) || url + "/" == $0 }) {
                return .failure(
                    Refusal(
                        argument: shown,
                        message: "the URL is under none of the rules' urls (\(bases.joined(separator: ", "))); "
                            + "check the host, or pass --any-url to purge it anyway"))
            }
            return .success([(url, nil)])
        }
        let segments = raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        if segments.contains(where: { $0.elementsEqual("..".utf8) }) {
            return .failure(
                Refusal(argument: shown, message: "the path has a \"..\" segment; give the path under the site root"))
        }
        guard let path = config.relativePath(forArgument: raw) else {
            return .failure(Refusal(argument: shown, message: "the path is not under the site root \(config.site.root)"))
        }
        let mapping = mapper.map(path)
        if mapping.urls.isEmpty {
            let why = mapping.excluded ? "it is excluded" : "no rule's prefix matches it"
            return .failure(Refusal(argument: shown, message: "the path maps to no URL (\(why)); see `purgewatch explain`"))
        }
        return .success(mapping.urls.map { ($0, path.bytes) })
    }

    /// The scheme of `raw` when it starts like a URL (`letter (letter | digit | + - .)* "://"`),
    /// whatever its case; nil for a path. A path containing "://" elsewhere stays a path.
    public static func scheme(of raw: [UInt8]) -> String? {
        guard let first = raw.first, (0x41...0x5A).contains(first) || (0x61...0x7A).contains(first) else { return nil }
        var index = 1
        while index < raw.count {
            let byte = raw[index]
            let isSchemeByte =
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            if !isSchemeByte { break }
            index += 1
        }
        guard raw.count >= index + 3, raw[index] == UInt8(ascii: ":"), raw[index + 1] == UInt8(ascii: "/"),
            raw[index + 2] == UInt8(ascii: "/")
        else { return nil }
        return String(decoding: raw[..<index], as: UTF8.self)
    }

    /// The first `%` not followed by two hex digits (with what follows it), or nil.
    static func invalidPercentEscape(in bytes: [UInt8]) -> String? {
        func isHex(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
        }
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "%") {
            if index + 2 >= bytes.count || !isHex(bytes[index + 1]) || !isHex(bytes[index + 2]) {
                return String(decoding: bytes[index..<min(bytes.count, index + 3)], as: UTF8.self)
            }
        }
        return nil
    }
}
