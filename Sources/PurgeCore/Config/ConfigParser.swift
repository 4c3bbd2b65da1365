import TOMLKit

/// Decodes and validates a purgewatch TOML file into a ``SiteConfig`` (SPEC §3).
///
/// Pure: it is given the text, the file's path (for messages and relative paths), the working
/// directory (when that path is relative) and the environment (`STATE_DIRECTORY`). Every problem
/// is a ``ConfigError`` naming the file, the line where one can be found, and the key path.
public struct ConfigParser {
    let file: String
    let directory: String
    let environment: [String: String]
    let hostName: String
    let locator: TOMLLineLocator

    /// - Parameters:
    ///   - text: the TOML source.
    ///   - sourcePath: the config file's path as the user gave it.
    ///   - workingDirectory: the directory a relative `sourcePath` is relative to.
    ///   - environment: the process environment (only `STATE_DIRECTORY` is read).
    ///   - hostName: the machine's name, `[fleet] origin`'s default.
    /// - Throws: ``ConfigError`` for any syntax error, unknown key, wrong type or invalid value.
    public static func parse(
        text: String,
        sourcePath: String,
        workingDirectory: String,
        environment: [String: String],
        hostName: String = "localhost"
    ) throws(ConfigError) -> SiteConfig {
        let absolute = FilePaths.resolve(sourcePath, against: workingDirectory)
        let parser = ConfigParser(
            file: sourcePath,
            directory: FilePaths.directory(of: absolute),
            environment: environment,
            hostName: hostName,
            locator: TOMLLineLocator(text: text)
        )
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: sourcePath, line: error.source.begin.line, keyPath: "", message: error.description)
        } catch {
            throw ConfigError(file: sourcePath, line: nil, keyPath: "", message: "cannot parse TOML: \(error)")
        }
        return try parser.decode(table, configStem: FilePaths.stem(of: absolute))
    }

    // MARK: - Sections

    private func decode(_ root: TOMLTable, configStem: String) throws(ConfigError) -> SiteConfig {
        try checkKeys(root, path: "", allowed: ["site", "state", "fleet", "rule", "coalesce", "purge", "tencentcloud", "metrics"])

        guard let siteTable = try table(root, "site", path: "site") else {
            throw error("site", "the [site] table is required (with root = \"/path/to/publish/dir\")")
        }
        try checkKeys(siteTable, path: "site", allowed: ["root", "exclude"])
        guard let rootText = try string(siteTable, "root", path: "site.root") else {
            throw error("site.root", "missing: set root to the publish directory")
        }
        guard !rootText.isEmpty else { throw error("site.root", "must not be empty") }
        let excludeTexts = try stringArray(siteTable, "exclude", path: "site.exclude") ?? SiteConfig.Site.defaultExclude
        var exclude: [ExcludeGlob] = []
        for (index, text) in excludeTexts.enumerated() {
            guard let glob = ExcludeGlob(text) else {
                throw error(
                    "site.exclude[\(index)]",
                    "\(quoted(text)) is not a valid glob (empty, an unclosed [, or longer than \(ExcludeGlob.maximumStates) pattern elements)")
            }
            exclude.append(glob)
        }
        let site = SiteConfig.Site(root: FilePaths.resolve(rootText, against: directory), exclude: exclude)

        let state = try decodeState(root, configStem: configStem)
        let rules = try decodeRules(root)
        let coalesce = try decodeCoalesce(root)
        var purge = try decodePurge(root)
        let cloud = try decodeTencentCloud(root)
        if cloud.product == .edgeone {
            // SPEC §10: neither applies to EdgeOne (a note says so); URLs go in the browser form.
            purge.area = .any
            purge.urlEncode = false
        }
        let metrics = try decodeMetrics(root)
        var config = SiteConfig(
            sourcePath: file, site: site, state: state, rules: rules, coalesce: coalesce, purge: purge,
            tencentCloud: cloud, metrics: metrics)
        config.fleet = try decodeFleet(root, state: state, configStem: configStem)
        config.notes = notes(root, product: cloud.product)
        return config
    }

    private func decodeState(_ root: TOMLTable, configStem: String) throws(ConfigError) -> SiteConfig.State {
        let stateTable = try table(root, "state", path: "state")
        if let stateTable { try checkKeys(stateTable, path: "state", allowed: ["path", "url"]) }
        var url: String?
        if let stateTable, let text = try string(stateTable, "url", path: "state.url") {
            try validateDatabaseURL(text, path: "state.url")
            url = text
        }
        if let stateTable, let path = try string(stateTable, "path", path: "state.path") {
            guard !path.isEmpty else { throw error("state.path", "must not be empty") }
            return .init(path: FilePaths.resolve(path, against: directory), url: url)
        }
        // Default: $STATE_DIRECTORY/<stem>.sqlite (systemd may list several, colon-separated:
        // the first is ours); else .purgewatch/<stem>.sqlite beside the config file. With a
        // PostgreSQL url it holds this origin's manifest.
        if let stateDirectory = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !stateDirectory.isEmpty {
            return .init(path: FilePaths.join(String(stateDirectory), "\(configStem).sqlite"), source: .stateDirectory, url: url)
        }
        return .init(
            path: FilePaths.join(FilePaths.join(directory, ".purgewatch"), "\(configStem).sqlite"), source: .besideConfig, url: url)
    }

    /// `[state] url`: a PostgreSQL URL without a password (SPEC §9: never in the config). Its
    /// host, port and `sslmode` are checked again, in full, where it is used.
    private func validateDatabaseURL(_ text: String, path: String) throws(ConfigError) {
        let lowered = text.lowercased()
        guard lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://") else {
            throw error(path, "must be a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full")
        }
        let afterScheme = text[text.index(text.range(of: "://")!.upperBound, offsetBy: 0)...]
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
        guard let at = authority.lastIndex(of: "@") else {
            throw error(path, "names no user: postgresql://USER@HOST:PORT/DATABASE")
        }
        if authority[..<at].contains(":") {
            throw error(
                path,
                "must not carry a password (it would be printed and kept in the file): give it in PGPASSWORD, the systemd credential postgresql-password, or the passfile (PGPASSFILE or ~/.pgpass)"
            )
        }
        guard !authority[..<at].isEmpty else { throw error(path, "names no user: postgresql://USER@HOST:PORT/DATABASE") }
        if text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            throw error(path, "must not contain spaces or control characters")
        }
        // Only the parameters purgewatch reads: anything else (a `password=` above all) is refused
        // by its name alone, so no value of it is ever printed.
        if let query = afterScheme.firstIndex(of: "?") {
            for pair in afterScheme[afterScheme.index(after: query)...].split(separator: "&") {
                let name = pair.prefix { $0 != "=" }.lowercased()
                guard name == "sslmode" || name == "host" else {
                    if name == "password" {
                        throw error(
                            path,
                            "must not carry a password (it would be printed and kept in the file): give it in PGPASSWORD, the systemd credential postgresql-password, or the passfile (PGPASSFILE or ~/.pgpass)"
                        )
                    }
                    let shown = name.count <= 32 && name.allSatisfy({ $0.isLetter || $0 == "_" }) ? name : "given"
                    throw error(path, "the URL parameter \(shown) is not supported (only sslmode and host)")
                }
            }
        }
    }

    /// `[fleet]`, only beside a PostgreSQL `[state] url` (SPEC §9); its defaults when the table is
    /// left out. Names are what `status` shows and what the shared state keys rows by.
    private func decodeFleet(_ root: TOMLTable, state: SiteConfig.State, configStem: String) throws(ConfigError) -> SiteConfig.Fleet? {
        let section = try table(root, "fleet", path: "fleet")
        guard state.url != nil else {
            if section != nil { throw error("fleet", "[fleet] needs a PostgreSQL [state] url: the origins share their state there") }
            return nil
        }
        if let section {
            try checkKeys(section, path: "fleet", allowed: ["origin", "site", "account", "converge", "origin_timeout"])
        }
        func name(_ key: String, default value: String, from source: String) throws(ConfigError) -> String {
            var text = value
            var given = false
            if let section, let written = try string(section, key, path: "fleet.\(key)") {
                text = written
                given = true
            }
            guard !text.isEmpty, text.utf8.count <= 64,
                text.unicodeScalars.allSatisfy({
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
                })
            else {
                let origin = given ? "" : " (the default: \(source); set \(key) = \"…\")"
                throw error(
                    "fleet.\(key)",
                    "\(quoted(text))\(origin) is not a name: 1 to 64 of A-Z a-z 0-9 . _ - (it is shown by status and keys the shared state)")
            }
            return text
        }
        let origin = try name("origin", default: hostName, from: "the host name")
        let site = try name("site", default: configStem, from: "the config file's name")
        let account = try name("account", default: "default", from: "\"default\"")
        let converge = try duration(section, "converge", path: "fleet.converge") ?? ConfigDuration(milliseconds: 120_000)
        let originTimeout = try duration(section, "origin_timeout", path: "fleet.origin_timeout") ?? ConfigDuration(milliseconds: 30_000)
        guard converge.milliseconds > 0 else { throw error("fleet.converge", "must be greater than 0") }
        guard originTimeout.milliseconds >= 1_000 else {
            throw error("fleet.origin_timeout", "must be at least 1s (the origins' heartbeats come more often than that)")
        }
        return .init(origin: origin, site: site, account: account, converge: converge, originTimeout: originTimeout)
    }

    private func decodeRules(_ root: TOMLTable) throws(ConfigError) -> [SiteConfig.Rule] {
        guard let value = root["rule"] else {
            throw error("rule", "at least one [[rule]] is required (prefix and urls)")
        }
        guard let array = value.array else {
            throw error("rule", "must be an array of tables, written [[rule]] (found \(typeName(value)))")
        }
        guard !array.isEmpty else { throw error("rule", "at least one [[rule]] is required") }
        var rules: [SiteConfig.Rule] = []
        var seenPrefixes: [String: Int] = [:]
        for index in 0..<array.count {
            let path = "rule[\(index)]"
            guard let ruleTable = array[index].table else {
                throw error(path, "must be a table, written [[rule]] (found \(typeName(array[index])))")
            }
            try checkKeys(ruleTable, path: path, allowed: ["prefix", "urls", "index", "index_bare"])
            let prefix = try string(ruleTable, "prefix", path: "\(path).prefix") ?? ""
            try validatePrefix(prefix, path: "\(path).prefix")
            if let earlier = seenPrefixes[prefix] {
                throw error("\(path).prefix", "duplicate prefix \(quoted(prefix)): rule[\(earlier)] already has it")
            }
            seenPrefixes[prefix] = index
            guard let urls = try stringArray(ruleTable, "urls", path: "\(path).urls") else {
                throw error("\(path).urls", "missing: list the base URLs this prefix is served under")
            }
            guard !urls.isEmpty else { throw error("\(path).urls", "must list at least one base URL") }
            for (urlIndex, url) in urls.enumerated() {
                try validateBaseURL(url, path: "\(path).urls[\(urlIndex)]")
            }
            let indexNames = try stringArray(ruleTable, "index", path: "\(path).index") ?? ["index.html"]
            for (nameIndex, name) in indexNames.enumerated()
            where name.isEmpty || name.contains("/") || name == "." || name == ".." {
                throw error("\(path).index[\(nameIndex)]", "\(quoted(name)) must be a plain file name")
            }
            let indexBare = try bool(ruleTable, "index_bare", path: "\(path).index_bare") ?? false
            rules.append(.init(prefix: prefix, urls: urls, index: indexNames, indexBare: indexBare))
        }
        return rules
    }

    private func decodeCoalesce(_ root: TOMLTable) throws(ConfigError) -> SiteConfig.Coalesce {
        let section = try table(root, "coalesce", path: "coalesce")
        if let section { try checkKeys(section, path: "coalesce", allowed: ["quiet", "max_delay"]) }
        let quiet = try duration(section, "quiet", path: "coalesce.quiet") ?? ConfigDuration(milliseconds: 2_000)
        let maxDelay =
            try duration(section, "max_delay", path: "coalesce.max_delay") ?? ConfigDuration(milliseconds: 30_000)
        guard maxDelay.milliseconds > 0 else { throw error("coalesce.max_delay", "must be greater than 0") }
        guard quiet <= maxDelay else {
            throw error("coalesce.quiet", "quiet (\(quiet)) must not be longer than max_delay (\(maxDelay))")
        }
        return .init(quiet: quiet, maxDelay: maxDelay)
    }

    private func decodePurge(_ root: TOMLTable) throws(ConfigError) -> SiteConfig.Purge {
        let section = try table(root, "purge", path: "purge")
        if let section {
            try checkKeys(
                section, path: "purge",
                allowed: ["on", "area", "url_encode", "requests_per_second", "directory_fallback", "prefetch", "prefix_method"])
        }
        var kinds: [SiteConfig.ChangeKind] = [.modified, .deleted]
        if let section, let names = try stringArray(section, "on", path: "purge.on") {
            kinds = []
            for (index, name) in names.enumerated() {
                guard let kind = SiteConfig.ChangeKind(rawValue: name) else {
                    throw error("purge.on[\(index)]", "\(quoted(name)) is not one of \"created\", \"modified\", \"deleted\"")
                }
                if !kinds.contains(kind) { kinds.append(kind) }
            }
            guard !kinds.isEmpty else { throw error("purge.on", "must name at least one change kind, or nothing is ever purged") }
        }
        var area = SiteConfig.Area.any
        if let section, let name = try string(section, "area", path: "purge.area") {
            guard let parsed = SiteConfig.Area(rawValue: name) else {
                throw error("purge.area", "\(quoted(name)) is not one of \"\", \"mainland\", \"overseas\"")
            }
            area = parsed
        }
        let urlEncode = try section.flatMap { (s) throws(ConfigError) in try bool(s, "url_encode", path: "purge.url_encode") } ?? false
        var rate = 10.0
        if let section, let value = section["requests_per_second"] {
            guard let number = value.int.map(Double.init) ?? value.double else {
                throw error("purge.requests_per_second", "expected a number, found \(typeName(value))")
            }
            guard number > 0 && number <= 20 else {
                throw error("purge.requests_per_second", "\(number) is outside 0 < rate ≤ 20 (the API allows 20 requests/s)")
            }
            rate = number
        }
        let fallback =
            try section.flatMap { (s) throws(ConfigError) in try bool(s, "directory_fallback", path: "purge.directory_fallback") } ?? true
        let prefetch = try section.flatMap { (s) throws(ConfigError) in try bool(s, "prefetch", path: "purge.prefetch") } ?? false
        var purge = SiteConfig.Purge(
            on: kinds, area: area, urlEncode: urlEncode, requestsPerSecond: rate, directoryFallback: fallback,
            prefetch: prefetch)
        if let section, let name = try string(section, "prefix_method", path: "purge.prefix_method") {
            guard let method = SiteConfig.PrefixMethod(rawValue: name) else {
                throw error("purge.prefix_method", "\(quoted(name)) is not one of \"invalidate\", \"delete\"")
            }
            purge.prefixMethod = method
        }
        return purge
    }

    private func decodeMetrics(_ root: TOMLTable) throws(ConfigError) -> SiteConfig.Metrics {
        guard let section = try table(root, "metrics", path: "metrics") else { return .init() }
        try checkKeys(section, path: "metrics", allowed: ["listen"])
        let listen = try string(section, "listen", path: "metrics.listen") ?? ""
        if !listen.isEmpty {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (1...65_535).contains(port), colon != listen.startIndex
            else {
                throw error("metrics.listen", "\(quoted(listen)) is not HOST:PORT, e.g. \"127.0.0.1:9464\" (or \"\" for off)")
            }
        }
        return .init(listen: listen)
    }

    private func decodeTencentCloud(_ root: TOMLTable) throws(ConfigError) -> SiteConfig.TencentCloud {
        let section = try table(root, "tencentcloud", path: "tencentcloud")
        if let section {
            try checkKeys(
                section, path: "tencentcloud",
                allowed: ["product", "zone_id", "endpoint", "credentials_file", "cvm_role", "metadata_endpoint"])
        }
        var product = SiteConfig.Product.cdn
        if let section, let name = try string(section, "product", path: "tencentcloud.product") {
            guard let parsed = SiteConfig.Product(rawValue: name) else {
                throw error("tencentcloud.product", "\(quoted(name)) is not one of \"cdn\", \"edgeone\"")
            }
            product = parsed
        }
        let zoneID = try section.flatMap { (s) throws(ConfigError) in try string(s, "zone_id", path: "tencentcloud.zone_id") }
        if let zoneID, !Self.isZoneID(zoneID) {
            throw error("tencentcloud.zone_id", "\(quoted(zoneID)) is not an EdgeOne zone id such as \"zone-2noz78a8ev6k\"")
        }
        if product == .edgeone, zoneID == nil {
            throw error(
                section == nil ? "tencentcloud" : "tencentcloud.zone_id",
                "required with product = \"edgeone\": the zone's id (zone-…), from the EdgeOne console or DescribeZones")
        }
        let endpoint =
            try section.flatMap { (s) throws(ConfigError) in try string(s, "endpoint", path: "tencentcloud.endpoint") }
            ?? product.defaultEndpoint
        try validateEndpoint(endpoint, path: "tencentcloud.endpoint")
        // Tencent Cloud's own hosts name their service: a CDN endpoint left in a config switched
        // to EdgeOne would sign for `teo` and send to `cdn` (every request refused).
        if let host = HTTPURLParts(endpoint)?.host.lowercased(), host.hasSuffix(".tencentcloudapi.com"),
            let service = host.split(separator: ".").first, service != product.serviceName
        {
            throw error(
                "tencentcloud.endpoint",
                "\(quoted(endpoint)) is the \(service) API, but product = \(quoted(product.rawValue)) needs \(product.defaultEndpoint) (international: \(product.defaultEndpoint.replacingOccurrences(of: ".tencentcloudapi.com", with: ".intl.tencentcloudapi.com"))); change endpoint or remove it"
            )
        }
        var credentialsFile: String?
        if let section, let path = try string(section, "credentials_file", path: "tencentcloud.credentials_file") {
            guard !path.isEmpty else { throw error("tencentcloud.credentials_file", "must not be empty") }
            credentialsFile = FilePaths.resolve(path, against: directory)
        }
        let cvmRole = try section.flatMap { (s) throws(ConfigError) in try bool(s, "cvm_role", path: "tencentcloud.cvm_role") } ?? false
        let metadata =
            try section.flatMap { (s) throws(ConfigError) in
                try string(s, "metadata_endpoint", path: "tencentcloud.metadata_endpoint")
            } ?? "http://metadata.tencentyun.com"
        guard let parsed = HTTPURLParts(metadata), parsed.pathAndQuery.allSatisfy({ $0 == "/" }) else {
            throw error("tencentcloud.metadata_endpoint", "\(quoted(metadata)) is not an http(s) base URL")
        }
        return .init(
            product: product, zoneID: zoneID, endpoint: endpoint, credentialsFile: credentialsFile, cvmRole: cvmRole,
            metadataEndpoint: metadata)
    }

    /// An EdgeOne zone id: `zone-` and lower-case letters and digits.
    static func isZoneID(_ text: String) -> Bool {
        guard text.hasPrefix("zone-"), text.count > 5, text.count <= 64 else { return false }
        return text.utf8.dropFirst(5).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// Settings that are valid but do nothing for `product` (SPEC §10: `area` and `url_encode`
    /// do not apply to EdgeOne; `zone_id` and `prefix_method` do not apply to CDN).
    private func notes(_ root: TOMLTable, product: SiteConfig.Product) -> [String] {
        let purge = root["purge"]?.table
        let cloud = root["tencentcloud"]?.table
        var notes: [String] = []
        func note(_ keyPath: String, _ message: String) {
            let line = locator.line(for: keyPath).map { ":\($0)" } ?? ""
            notes.append("\(file)\(line): \(keyPath): \(message)")
        }
        switch product {
        case .edgeone:
            if purge?["area"] != nil { note("purge.area", "does not apply to EdgeOne (a zone has no areas); ignored") }
            if purge?["url_encode"] != nil {
                note("purge.url_encode", "does not apply to EdgeOne (URLs are sent in the browser form of SPEC §4); ignored")
            }
        case .cdn:
            if cloud?["zone_id"] != nil { note("tencentcloud.zone_id", "applies to product = \"edgeone\" only; ignored for CDN") }
            if purge?["prefix_method"] != nil {
                note("purge.prefix_method", "applies to product = \"edgeone\" only; CDN directory purges always flush")
            }
        }
        return notes
    }

    // MARK: - Value rules

    private func validatePrefix(_ prefix: String, path: String) throws(ConfigError) {
        if prefix.isEmpty { return }
        guard prefix.hasSuffix("/") else {
            throw error(path, "\(quoted(prefix)) must be \"\" or end in \"/\" (a directory relative to the root)")
        }
        guard !prefix.hasPrefix("/") else {
            throw error(path, "\(quoted(prefix)) must be relative to the root, without a leading \"/\"")
        }
        let segments = prefix.dropLast().split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw error(path, "\(quoted(prefix)) must not contain empty, \".\" or \"..\" segments")
        }
    }

    private func validateBaseURL(_ url: String, path: String) throws(ConfigError) {
        guard let parts = HTTPURLParts(url) else {
            throw error(path, "\(quoted(url)) is not an absolute http:// or https:// URL")
        }
        guard url.hasSuffix("/") else {
            throw error(path, "\(quoted(url)) must end in \"/\" (paths are appended to it)")
        }
        guard !parts.pathAndQuery.contains("?") && !parts.pathAndQuery.contains("#") else {
            throw error(path, "\(quoted(url)) must not have a query or fragment")
        }
    }

    private func validateEndpoint(_ endpoint: String, path: String) throws(ConfigError) {
        guard let parts = HTTPURLParts(endpoint), parts.pathAndQuery.allSatisfy({ $0 == "/" }) else {
            throw error(path, "\(quoted(endpoint)) is not an https:// base URL such as https://cdn.tencentcloudapi.com")
        }
        if parts.scheme == "http" && !parts.isLoopback {
            throw error(path, "\(quoted(endpoint)) must use https:// (plain http:// is allowed for 127.0.0.1 only)")
        }
    }

    // MARK: - Typed access

    private func checkKeys(_ table: TOMLTable, path: String, allowed: Set<String>) throws(ConfigError) {
        for key in table.keys.sorted() where !allowed.contains(key) {
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            let known = allowed.sorted().joined(separator: ", ")
            throw error(keyPath, "unknown key (allowed here: \(known))")
        }
    }

    private func table(_ parent: TOMLTable, _ key: String, path: String) throws(ConfigError) -> TOMLTable? {
        guard let value = parent[key] else { return nil }
        guard let table = value.table else { throw error(path, "expected a table, found \(typeName(value))") }
        return table
    }

    private func string(_ parent: TOMLTable, _ key: String, path: String) throws(ConfigError) -> String? {
        guard let value = parent[key] else { return nil }
        guard let text = value.string else { throw error(path, "expected a string, found \(typeName(value))") }
        return text
    }

    private func bool(_ parent: TOMLTable, _ key: String, path: String) throws(ConfigError) -> Bool? {
        guard let value = parent[key] else { return nil }
        guard let flag = value.bool else { throw error(path, "expected true or false, found \(typeName(value))") }
        return flag
    }

    private func stringArray(_ parent: TOMLTable, _ key: String, path: String) throws(ConfigError) -> [String]? {
        guard let value = parent[key] else { return nil }
        guard let array = value.array else {
            throw error(path, "expected an array of strings, found \(typeName(value))")
        }
        var strings: [String] = []
        for index in 0..<array.count {
            guard let text = array[index].string else {
                throw error("\(path)[\(index)]", "expected a string, found \(typeName(array[index]))")
            }
            strings.append(text)
        }
        return strings
    }

    private func duration(_ parent: TOMLTable?, _ key: String, path: String) throws(ConfigError) -> ConfigDuration? {
        guard let parent, let text = try string(parent, key, path: path) else { return nil }
        guard let duration = ConfigDuration(parsing: text) else {
            throw error(path, "\(quoted(text)) is not a duration: write a whole number with ms, s, m or h, e.g. \"500ms\", \"2s\", \"5m\", \"1h\"")
        }
        return duration
    }

    private func typeName(_ value: any TOMLValueConvertible) -> String {
        switch value.type {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .date, .time, .dateTime: "a date/time"
        }
    }

    private func quoted(_ text: String) -> String { "\"\(text)\"" }

    private func error(_ keyPath: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: locator.line(for: keyPath), keyPath: keyPath, message: message)
    }
}

/// The parts of an absolute `http(s)://host[:port]/…` URL that validation needs.
struct HTTPURLParts {
    let scheme: String
    let host: String
    let pathAndQuery: String

    init?(_ text: String) {
        let scheme: String
        if text.hasPrefix("https://") {
            scheme = "https"
        } else if text.hasPrefix("http://") {
            scheme = "http"
        } else {
            return nil
        }
        let rest = text.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"),
            !text.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0.isASCII == false })
        else { return nil }
        var host = String(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isNumber) else { return nil }
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        self.pathAndQuery = String(rest.dropFirst(authority.count))
    }

    var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
