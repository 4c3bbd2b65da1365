/// The CDN API 3.0 actions this client calls (version 2018-06-06).
public enum TencentCDNAction: String, Sendable, CaseIterable {
    case purgeUrlsCache = "PurgeUrlsCache"
    case purgePathCache = "PurgePathCache"
    case describePurgeTasks = "DescribePurgeTasks"
    case describePurgeQuota = "DescribePurgeQuota"
    case pushUrlsCache = "PushUrlsCache"
    case describePushQuota = "DescribePushQuota"

    public static let version = "2018-06-06"
}
