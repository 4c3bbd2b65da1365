extension SiteConfig {
    /// Every setting with its resolved value (defaults filled in, paths absolute), as TOML.
    ///
    /// Contains no secret: the config file holds none (credentials come from the environment,
    /// systemd credentials, the SDK credentials file or the instance role).
    public var resolvedSettings: String {
        func list(_ items: [String]) -> String { "[" + items.map(JSONText.string).joined(separator: ", ") + "]" }
        var lines: [String] = []
        lines.append("[site]")
        lines.append("root = \(JSONText.string(site.root))")
        lines.append("exclude = \(list(site.exclude.map(\.pattern)))")
        lines.append("")
        lines.append("[state]")
        lines.append("path = \(JSONText.string(state.path))")
        if let url = state.url { lines.append("url = \(JSONText.string(url))") }
        if let fleet {
            lines.append("")
            lines.append("[fleet]")
            lines.append("origin = \(JSONText.string(fleet.origin))")
            lines.append("site = \(JSONText.string(fleet.site))")
            lines.append("account = \(JSONText.string(fleet.account))")
            lines.append("converge = \"\(fleet.converge)\"")
            lines.append("origin_timeout = \"\(fleet.originTimeout)\"")
        }
        for rule in rules {
            lines.append("")
            lines.append("[[rule]]")
            lines.append("prefix = \(JSONText.string(rule.prefix))")
            lines.append("urls = \(list(rule.urls))")
            lines.append("index = \(list(rule.index))")
            lines.append("index_bare = \(rule.indexBare)")
        }
        lines.append("")
        lines.append("[coalesce]")
        lines.append("quiet = \"\(coalesce.quiet)\"")
        lines.append("max_delay = \"\(coalesce.maxDelay)\"")
        lines.append("")
        lines.append("[purge]")
        lines.append("on = \(list(purge.on.map(\.rawValue)))")
        lines.append("area = \(JSONText.string(purge.area.rawValue))")
        lines.append("url_encode = \(purge.urlEncode)")
        let rate = purge.requestsPerSecond
        lines.append("requests_per_second = \(rate == rate.rounded() ? String(Int(rate)) : String(rate))")
        lines.append("directory_fallback = \(purge.directoryFallback)")
        lines.append("prefetch = \(purge.prefetch)")
        if tencentCloud.product == .edgeone { lines.append("prefix_method = \(JSONText.string(purge.prefixMethod.rawValue))") }
        lines.append("")
        lines.append("[metrics]")
        lines.append("listen = \(JSONText.string(metrics.listen))")
        lines.append("")
        lines.append("[tencentcloud]")
        lines.append("product = \(JSONText.string(tencentCloud.product.rawValue))")
        if let zone = tencentCloud.zoneID { lines.append("zone_id = \(JSONText.string(zone))") }
        lines.append("endpoint = \(JSONText.string(tencentCloud.endpoint))")
        if let file = tencentCloud.credentialsFile {
            lines.append("credentials_file = \(JSONText.string(file))")
        }
        lines.append("cvm_role = \(tencentCloud.cvmRole)")
        lines.append("metadata_endpoint = \(JSONText.string(tencentCloud.metadataEndpoint))")
        return lines.joined(separator: "\n")
    }

    /// A path given on a command line, as a path relative to the root; nil when it is absolute
    /// but not under the root (compared lexically; the caller may retry with the root's real path).
    public func relativePath(forArgument raw: [UInt8], root: String? = nil) -> RelativePath? {
        guard raw.first == UInt8(ascii: "/") else { return RelativePath.normalized(raw) }
        let rootBytes = Array((root ?? site.root).utf8)
        let normalizedRoot = rootBytes.last == UInt8(ascii: "/") ? Array(rootBytes.dropLast()) : rootBytes
        guard raw.starts(with: normalizedRoot),
            raw.count == normalizedRoot.count || raw[normalizedRoot.count] == UInt8(ascii: "/")
        else { return nil }
        return RelativePath.normalized(Array(raw.dropFirst(normalizedRoot.count)))
    }
}
