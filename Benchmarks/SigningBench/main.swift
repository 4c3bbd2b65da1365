// bench-tc3: TC3-HMAC-SHA256 signing throughput (requests signed per second).
//
// Usage: bench-tc3 [--seconds S] [--urls N]
// Signs PurgeUrlsCache bodies of N URLs (default 1 and 1,000) for S seconds each (default 2)
// and prints one line per case: `tc3 sign urls=N: R requests/s (X µs/request)`.
// Benchmarks/tc3.sh runs it in release mode next to a Python hmac/hashlib baseline.
import Foundation
import TencentCDN

var seconds = 2.0
var urlCounts = [1, 1000]
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
    switch arg {
    case "--seconds": seconds = Double(arguments.popFirst() ?? "") ?? seconds
    case "--urls": urlCounts = [Int(arguments.popFirst() ?? "") ?? 1]
    default:
        FileHandle.standardError.write(Data("usage: bench-tc3 [--seconds S] [--urls N]\n".utf8))
        exit(64)
    }
}

let signer = TC3Signer(service: "cdn")
let credentials = Credentials(
    secretId: "AKIDEXAMPLEcdnpurge0000000000000000",
    secretKey: Secret("examplesecretkey0000000000000000")
)

for count in urlCounts {
    let urls = (0..<count).map { "\"https://www.example.com/assets/page-\($0).html\"" }.joined(separator: ",")
    let payload = Array("{\"Urls\":[\(urls)]}".utf8)
    let input = TC3SigningInput(host: "cdn.tencentcloudapi.com", payload: payload)
    // Warm up, then measure in rounds of 256 signatures until the time is up.
    var sink = 0
    for i in 0..<256 {
        sink &+= signer.sign(input, credentials: credentials, timestamp: 1_700_000_000 + Int64(i)).signature.utf8.count
    }
    let clock = ContinuousClock()
    let start = clock.now
    var signed = 0
    var timestamp: Int64 = 1_700_000_000
    while clock.now - start < .seconds(seconds) {
        for _ in 0..<256 {
            timestamp += 1
            sink &+= signer.sign(input, credentials: credentials, timestamp: timestamp).signature.utf8.count
        }
        signed += 256
    }
    let elapsed = clock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(signed) / secs
    print(
        String(
            format: "tc3 sign urls=%d bytes=%d: %.0f requests/s (%.2f µs/request)",
            count,
            payload.count,
            rate,
            1e6 / rate
        )
    )
    if sink == 42 { print("") }  // keep the work observable
}
