/// Percent-encoding of a path the way a browser requests it (SPEC §4).
public enum URLPercentEncoding {
    /// Bytes sent as they are: `A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , ; = : @ /`.
    static let safe: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for char in "-._~!$&'()*+,;=:@/".utf8 { table[Int(char)] = true }
        return table
    }()

    /// Encodes `bytes`: every byte outside the safe set becomes `%XX` with upper-case hex.
    ///
    /// - Parameter keepNonASCII: when true (the config's `url_encode = true`), bytes of valid
    ///   UTF-8 multi-byte sequences are kept as they are so the API's `UrlEncode` flag can encode
    ///   them; bytes that are not valid UTF-8 cannot travel in JSON and are still percent-encoded.
    public static func encode(_ bytes: [UInt8], keepNonASCII: Bool = false) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 3)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if safe[Int(byte)] {
                out.append(byte)
                index += 1
                continue
            }
            if keepNonASCII && byte >= 0x80 {
                let length = UTF8Validation.sequenceLength(bytes, at: index)
                if length > 1 {
                    out.append(contentsOf: bytes[index..<(index + length)])
                    index += length
                    continue
                }
            }
            out.append(UInt8(ascii: "%"))
            out.append(contentsOf: hexByte(byte, uppercase: true).utf8)
            index += 1
        }
        // Every byte left unencoded is ASCII or part of a valid UTF-8 sequence.
        return String(decoding: out, as: UTF8.self)
    }
}
