import Foundation
import PurgeCore
import TencentCDN

/// For `check-config`: where the credentials would come from — presence only, never a secret.
public enum CredentialCheck {
    public struct Finding: Sendable {
        /// One line for people, e.g. `environment (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY)`.
        public var description: String
        /// A problem that stops a real run (a dry run needs no credentials).
        public var problem: String?
    }

    public static func check(_ config: SiteConfig, environment: [String: String]) -> Finding {
        guard
            let (kind, detail) = CredentialChain.locate(
                environment: environment, credentialsFile: config.tencentCloud.credentialsFile,
                cvmRole: config.tencentCloud.cvmRole)
        else {
            return Finding(
                description: "none found",
                problem:
                    "no Tencent Cloud credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, systemd credentials tencentcloud-secret-id/-key (LoadCredential=), credentials_file, or cvm_role = true (not needed for --dry-run)"
            )
        }
        var problem: String?
        switch kind {
        case .credentialsFile:
            if !FileManager.default.isReadableFile(atPath: detail) {
                problem = "credentials_file \(detail) does not exist or is not readable by this user"
            }
        case .systemdCredentials:
            let paths = detail.components(separatedBy: ", ")
            if let missing = paths.first(where: { !FileManager.default.isReadableFile(atPath: $0) }) {
                problem = "systemd credential \(missing) is missing or unreadable"
            }
        case .environment, .cvmRole:
            break
        }
        return Finding(description: "\(kind.rawValue) (\(detail))", problem: problem)
    }
}
