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
        if text.hasPrefix("http://") || text.hasPrefix("https://") {
            if let bad = raw.first(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x20 }) {
                let what = bad == 0x20 ? "a space" : "a control character (byte 0x\(String(bad, radix: 16, uppercase: true)))"
                return .failure(Refusal(argument: shown, message: "the URL contains \(what); percent-encode it"))
            }
            if String(validating: raw, as: UTF8.self) == nil {
                return .failure(Refusal(argument: shown, message: "the URL is not valid UTF-8; percent-encode it"))
            }
            let bases = config.rules.flatMap(\.urls)
            if !anyURL && !bases.contains(where: { text.hasPrefix($0) || text + "/" == $0 }) {
                return .failure(
                    Refusal(
                        argument: shown,
                        message: "the URL is under none of the rules' urls (\(bases.joined(separator: ", "))); "
                            + "check the host, or pass --any-url to purge it anyway"))
            }
            return .success([(text, nil)])
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
}
