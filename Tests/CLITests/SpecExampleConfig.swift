/// SPEC §3's example configuration, copied verbatim (SPEC §8: no test reads outside the
/// repository). Tests replace only `root`, `[state] path` and `endpoint` (see
/// ``DocumentedConfig/localized(_:root:state:endpoint:)``).
enum SpecExampleConfig {
    static let text = #"""
        [site]
        root = "/srv/www/example.com/current"   # required. May be a symlink that deploys swap.
        exclude = ["**/.*", "**/*.tmp", "**/*~"] # globs on the path relative to root; matches are never purged

        [state]
        path = "/var/lib/purgewatch/example.com.sqlite"
        # default: $STATE_DIRECTORY/<config file stem>.sqlite, else ./.purgewatch/<stem>.sqlite

        [[rule]]                                  # longest matching prefix wins
        prefix = ""                               # relative to root; "" or ending in "/"
        urls = ["https://www.example.com/", "https://example.com/"]  # every change is purged under each
        index = ["index.html"]                    # a changed dir/index.html also purges "dir/"
        index_bare = false                        # ... and "dir" (without the slash) when true

        [[rule]]
        prefix = "assets/"
        urls = ["https://static.example.com/assets/"]

        [coalesce]
        quiet = "2s"        # submit once no change has been seen for this long
        max_delay = "30s"   # never hold a change longer than this, however busy the tree is

        [purge]
        on = ["modified", "deleted"]   # also "created" (off by default: a new URL is rarely cached)
        area = ""                      # "", "mainland" or "overseas"
        url_encode = false             # the API's UrlEncode flag
        requests_per_second = 10       # stays under the API's 20/s
        directory_fallback = true      # when the day's URL quota cannot cover the queue, purge directories
        prefetch = false               # after a purge task is done, prefetch its created/modified URLs (PushUrlsCache)

        [metrics]
        listen = ""                    # e.g. "127.0.0.1:9464": Prometheus text format at GET /metrics (off when "")

        [tencentcloud]
        endpoint = "https://cdn.tencentcloudapi.com"   # or https://cdn.intl.tencentcloudapi.com; tests use http://127.0.0.1:PORT
        # credentials, first found wins:
        #   env TENCENTCLOUD_SECRET_ID + TENCENTCLOUD_SECRET_KEY (+ TENCENTCLOUD_TOKEN)
        #   systemd credentials: $CREDENTIALS_DIRECTORY/tencentcloud-secret-id, tencentcloud-secret-key
        #   credentials_file = "/etc/tencentcloud/credentials"   (the SDKs' INI format, [default] secret_id/secret_key)
        #   cvm_role = true      (instance role from the metadata service)
        # metadata_endpoint = "http://metadata.tencentyun.com"   # base URL; tests point it at 127.0.0.1
        """#
}
