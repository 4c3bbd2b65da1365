#!/usr/bin/env bash
# TC3 signing throughput: bench-tc3 (release build) against a Python hmac/hashlib baseline that
# performs the same steps per request (payload hash, canonical request, string to sign, final HMAC,
# with the daily signing key derived once and reused, as TC3Signer does).
# Usage: Benchmarks/tc3.sh [seconds-per-case]   (prints figures; not a test, never fails on speed)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CASE="${1:-2}"
SCRATCH="${SCRATCH_PATH:-.build-bench}"

swift build -c release --scratch-path "$SCRATCH" --product bench-tc3 >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-tc3"

echo "== swift (bench-tc3, release)"
SWIFT_OUT="$("$BIN" --seconds "$SECONDS_PER_CASE")"
echo "$SWIFT_OUT"

if ! command -v python3 >/dev/null; then
    echo "python3 not found: no baseline"
    exit 0
fi
echo "== python3 hmac/hashlib (OpenSSL) baseline, same steps"
PY_OUT="$(python3 - "$SECONDS_PER_CASE" <<'PY'
import hashlib, hmac, sys, time
seconds = float(sys.argv[1])
key, sid = "examplesecretkey0000000000000000", "AKIDEXAMPLEcdnpurge0000000000000000"
cache = {}
def signing_key(date):
    if date not in cache:
        k = hmac.new(("TC3" + key).encode(), date.encode(), hashlib.sha256).digest()
        k = hmac.new(k, b"cdn", hashlib.sha256).digest()
        cache.clear()
        cache[date] = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    return cache[date]
def sign(payload, ts):
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    cr = "POST\n/\n\ncontent-type:application/json\nhost:cdn.tencentcloudapi.com\n\ncontent-type;host\n" + hashlib.sha256(payload).hexdigest()
    scope = date + "/cdn/tc3_request"
    sts = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (ts, scope, hashlib.sha256(cr.encode()).hexdigest())
    sig = hmac.new(signing_key(date), sts.encode(), hashlib.sha256).hexdigest()
    return "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=content-type;host, Signature=%s" % (sid, scope, sig)
for count in (1, 1000):
    urls = ",".join('"https://www.example.com/assets/page-%d.html"' % i for i in range(count))
    payload = ('{"Urls":[%s]}' % urls).encode()
    n, ts, start = 0, 1700000000, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(256):
            ts += 1
            sign(payload, ts)
        n += 256
    rate = n / (time.perf_counter() - start)
    print("tc3 sign urls=%d bytes=%d: %.0f requests/s (%.2f us/request)" % (count, len(payload), rate, 1e6 / rate))
PY
)"
echo "$PY_OUT"

echo "== ratio swift / python"
paste <(echo "$SWIFT_OUT" | sed -E 's/.*urls=([0-9]+).*: ([0-9]+) requests.*/\1 \2/') \
      <(echo "$PY_OUT" | sed -E 's/.*urls=([0-9]+).*: ([0-9]+) requests.*/\2/') |
    awk '{ printf "urls=%s: %.2fx\n", $1, $2 / $3 }'
