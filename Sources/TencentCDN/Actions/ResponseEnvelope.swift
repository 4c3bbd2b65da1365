import Foundation

/// Decodes API 3.0 response bodies: `{"Response": {…, "RequestId"}}` on success and
/// `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` on failure (both HTTP 200).
enum ResponseEnvelope {
    private struct Probe: Decodable {
        struct Inner: Decodable {
            struct APIError: Decodable {
                var code: String
                var message: String?
                enum CodingKeys: String, CodingKey {
                    case code = "Code"
                    case message = "Message"
                }
            }
            var error: APIError?
            var requestId: String?
            enum CodingKeys: String, CodingKey {
                case error = "Error"
                case requestId = "RequestId"
            }
        }
        var response: Inner
        enum CodingKeys: String, CodingKey { case response = "Response" }
    }

    private struct Success<T: Decodable>: Decodable {
        var response: T
        enum CodingKeys: String, CodingKey { case response = "Response" }
    }

    /// The decoded `Response` object, or the API error it carries.
    /// - Throws: ``TencentCloudError`` with the API's code, or `ClientError.MalformedResponse`.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], httpStatus: Int = 200) throws -> T {
        let data = Data(body)
        let decoder = JSONDecoder()
        let probe: Probe
        do {
            probe = try decoder.decode(Probe.self, from: data)
        } catch {
            throw TencentCloudError(
                code: "ClientError.MalformedResponse",
                message: "response body is not an API 3.0 envelope (\(body.count) bytes): \(describe(error))",
                httpStatus: httpStatus
            )
        }
        if let apiError = probe.response.error {
            throw TencentCloudError(
                code: apiError.code,
                message: apiError.message ?? "",
                requestId: probe.response.requestId,
                httpStatus: httpStatus
            )
        }
        do {
            return try decoder.decode(Success<T>.self, from: data).response
        } catch {
            throw TencentCloudError(
                code: "ClientError.MalformedResponse",
                message: "response is missing fields of \(T.self): \(describe(error))",
                requestId: probe.response.requestId,
                httpStatus: httpStatus
            )
        }
    }

    /// A short description of a decoding error that quotes no body content.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key \(key.stringValue)"
        case DecodingError.typeMismatch(let type, let ctx):
            return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")) (expected \(type))"
        case DecodingError.valueNotFound(_, let ctx):
            return "null at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted: return "not valid JSON"
        default: return "undecodable"
        }
    }
}
