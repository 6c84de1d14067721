/// Builds an Authenticator from the variables swiftclient and the OpenStack client read:
/// `ST_AUTH`/`ST_USER`/`ST_KEY` for tempauth, `OS_*` for Keystone v3.
public enum EnvironmentCredentials {
    public enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case unsupported(String)

        public var description: String {
            switch self {
            case .missing(let what): "missing credentials: \(what)"
            case .unsupported(let what): "unsupported authentication: \(what)"
            }
        }
    }

    public static func authenticator(from env: [String: String]) throws -> any Authenticator {
        func value(_ key: String) -> String? {
            guard let v = env[key], !v.isEmpty else { return nil }
            return v
        }
        if let stAuth = value("ST_AUTH"), value("OS_AUTH_URL") == nil {
            guard let user = value("ST_USER"), let key = value("ST_KEY") else {
                throw Failure.missing("ST_AUTH is set but ST_USER or ST_KEY is not")
            }
            return TempAuthV1(authURL: stAuth, user: user, key: Secret(key))
        }
        guard let authURL = value("OS_AUTH_URL") else {
            throw Failure.missing("set OS_AUTH_URL (Keystone) or ST_AUTH/ST_USER/ST_KEY (tempauth), or use -o os_cloud=NAME")
        }
        let userDomainID = value("OS_USER_DOMAIN_ID")
        let userDomainName = value("OS_USER_DOMAIN_NAME") ?? (userDomainID == nil ? "Default" : nil)
        let user = KeystoneV3Auth.UserRef(id: value("OS_USER_ID"), name: value("OS_USERNAME"),
                                          domainID: userDomainID, domainName: userDomainName)
        let projectDomainID = value("OS_PROJECT_DOMAIN_ID")
        let projectDomainName = value("OS_PROJECT_DOMAIN_NAME") ?? (projectDomainID == nil ? "Default" : nil)
        let projectScope = KeystoneV3Auth.Scope.project(
            id: value("OS_PROJECT_ID") ?? value("OS_TENANT_ID"),
            name: value("OS_PROJECT_NAME") ?? value("OS_TENANT_NAME"),
            domainID: projectDomainID, domainName: projectDomainName)
        let interface = (value("OS_INTERFACE") ?? value("OS_ENDPOINT_TYPE") ?? "public")
            .replacingOccurrences(of: "URL", with: "")
        let region = value("OS_REGION_NAME")

        let identity: KeystoneV3Auth.Identity
        let projectGiven = value("OS_PROJECT_ID") ?? value("OS_TENANT_ID") ?? value("OS_PROJECT_NAME") ?? value("OS_TENANT_NAME") != nil
        var scope = projectGiven ? projectScope : .implicit
        switch (value("OS_AUTH_TYPE") ?? "password").lowercased() {
        case "password", "v3password":
            guard user.id != nil || user.name != nil else { throw Failure.missing("OS_USERNAME or OS_USER_ID") }
            guard let password = value("OS_PASSWORD") else { throw Failure.missing("OS_PASSWORD") }
            identity = .password(user: user, password: Secret(password))
        case "v3applicationcredential", "applicationcredential":
            guard let secret = value("OS_APPLICATION_CREDENTIAL_SECRET") else {
                throw Failure.missing("OS_APPLICATION_CREDENTIAL_SECRET")
            }
            let id = value("OS_APPLICATION_CREDENTIAL_ID")
            let name = value("OS_APPLICATION_CREDENTIAL_NAME")
            guard id != nil || name != nil else { throw Failure.missing("OS_APPLICATION_CREDENTIAL_ID or _NAME") }
            identity = .applicationCredential(id: id, name: name, user: id == nil ? user : nil, secret: Secret(secret))
            scope = .implicit
        case "token", "v3token":
            guard let token = value("OS_TOKEN") else { throw Failure.missing("OS_TOKEN") }
            identity = .token(Secret(token))
        case let other:
            throw Failure.unsupported("OS_AUTH_TYPE=\(other)")
        }
        return KeystoneV3Auth(authURL: authURL, identity: identity, scope: scope, interface: interface, region: region)
    }
}
