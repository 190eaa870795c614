import Yams

extension GatewayConfiguration {
    /// Reads and validates the YAML form of SPEC section 2.
    ///
    /// `${VAR}` in a value is replaced from `environment` (a variable that is not set, or is
    /// empty, is an error naming the variable and the YAML path). Durations take `ms`, `s`,
    /// `m` and `h`. Every problem is collected with its YAML path
    /// (`chains[0].upstreams[1].labels.region: missing`) rather than stopping at the first,
    /// and no message quotes a secret (keys, URLs, headers, values from the environment).
    public static func parse(yaml: String, environment: [String: String]) throws(ConfigurationErrors) -> GatewayConfiguration {
        var reader = ConfigurationReader(environment: environment)
        let configuration = reader.readConfiguration(yaml: yaml)
        guard reader.errors.isEmpty, let configuration else {
            throw ConfigurationErrors(reader.errors)
        }
        return configuration
    }

    /// The environment variables that values in `yaml` reference (comments excluded),
    /// each once, in order of first use; empty when `yaml` is not valid YAML.
    public static func environmentVariables(referencedBy yaml: String) -> [String] {
        guard let root = try? Yams.compose(yaml: yaml) else { return [] }
        let interpolation = EnvironmentInterpolation(environment: [:])
        var names: [String] = []
        func visit(_ node: Node) {
            switch node {
            case .scalar(let scalar):
                for name in interpolation.interpolate(scalar.string).result.variables where !names.contains(name) {
                    names.append(name)
                }
            case .mapping(let mapping): mapping.values.forEach(visit)
            case .sequence(let sequence): sequence.forEach(visit)
            case .alias: break
            }
        }
        visit(root)
        return names
    }
}

/// Names that would clash with the gateway's own routes if used as a chain name.
private let reservedChainNames: Set<String> = ["admin", "healthz", "readyz", "metrics", "status"]

extension ConfigurationReader {
    mutating func readConfiguration(yaml: String) -> GatewayConfiguration? {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            report("", Self.syntaxMessage(error, yaml: yaml))
            return nil
        }
        guard let root, !Self.isNull(root) else {
            report("chains", "missing: the configuration is empty; it needs at least one chain")
            return nil
        }
        guard let fields = fields(root, at: "", known: ["server", "cache", "auth", "chains"]) else { return nil }
        var configuration = GatewayConfiguration(chains: [])
        if let node = fields["server"] { configuration.server = readServer(node, at: "server") }
        if let node = fields["cache"] { configuration.cache = readCache(node, at: "cache") }
        if let node = fields["auth"] { configuration.auth = readAuth(node, at: "auth") }
        if let node = fields["chains"] {
            configuration.chains = readChains(node, at: "chains", listen: configuration.server.listen)
        } else {
            report("chains", "missing: at least one chain is needed")
        }
        return configuration
    }

    // MARK: server

    mutating func readServer(_ node: Node, at path: String) -> GatewayConfiguration.Server {
        var server = GatewayConfiguration.Server()
        guard let fields = fields(node, at: path, known: ["listen", "maxBodyBytes", "maxBatchSize", "requestTimeout",
                                                           "maxHeaderBytes", "maxJsonDepth", "readTimeout", "idleTimeout", "maxConnections"]) else {
            return server
        }
        if let node = fields["listen"], let value = value(node, at: fields.path("listen"), expected: "host:port") {
            if let address = GatewayConfiguration.ListenAddress(parsing: value.text) {
                server.listen = address
            } else {
                report(fields.path("listen"), "expected host:port with a port from 0 to 65535 (e.g. 127.0.0.1:8545, 0.0.0.0:8545, [::1]:8545), got \(value.shown)")
            }
        }
        if let node = fields["maxBodyBytes"], let bytes = integer(node, at: fields.path("maxBodyBytes"), minimum: 1) {
            server.maxBodyBytes = bytes
        }
        if let node = fields["maxBatchSize"], let size = integer(node, at: fields.path("maxBatchSize"), minimum: 1) {
            server.maxBatchSize = size
        }
        if let node = fields["requestTimeout"], let timeout = duration(node, at: fields.path("requestTimeout")) {
            server.requestTimeout = timeout
        }
        if let node = fields["maxHeaderBytes"], let bytes = integer(node, at: fields.path("maxHeaderBytes"), minimum: 1_024) {
            server.maxHeaderBytes = bytes
        }
        if let node = fields["maxJsonDepth"], let depth = integer(node, at: fields.path("maxJsonDepth"), minimum: 2) {
            if depth > 512 {
                report(fields.path("maxJsonDepth"), "at most 512 (JSON-RPC requests nest a few levels), got \(depth)")
            } else {
                server.maxJsonDepth = depth
            }
        }
        if let node = fields["readTimeout"], let timeout = duration(node, at: fields.path("readTimeout")) {
            server.readTimeout = timeout
        }
        if let node = fields["idleTimeout"], let timeout = duration(node, at: fields.path("idleTimeout")) {
            server.idleTimeout = timeout
        }
        if let node = fields["maxConnections"], let count = integer(node, at: fields.path("maxConnections"), minimum: 1) {
            server.maxConnections = count
        }
        return server
    }

    // MARK: cache

    mutating func readCache(_ node: Node, at path: String) -> GatewayConfiguration.Cache {
        var cache = GatewayConfiguration.Cache()
        guard let fields = fields(node, at: path, known: ["store", "path", "url", "staleIfError", "maxBytes"]) else { return cache }
        var storeIsValid = true
        if let node = fields["store"] {
            if let store: GatewayConfiguration.Cache.Store = choice(node, at: fields.path("store"), what: "store") {
                cache.store = store
            } else {
                storeIsValid = false
            }
        }
        if let node = fields["path"], let value = value(node, at: fields.path("path"), expected: "a file path") {
            if value.text.isEmpty { report(fields.path("path"), "empty: the SQLite store needs a file path") }
            cache.path = value.text
        }
        var urlIsValid = true
        if let node = fields["url"], let value = value(node, at: fields.path("url"), expected: "a postgres:// URL") {
            switch EndpointURL.parse(value.text) {
            case .success(let url) where url.scheme == "postgres" || url.scheme == "postgresql":
                cache.url = value.text
            case .success:
                report(fields.path("url"), "must be a postgres:// or postgresql:// URL")
                urlIsValid = false
            case .failure(let problem):
                report(fields.path("url"), problem.message)
                urlIsValid = false
            }
        } else if fields["url"] != nil {
            urlIsValid = false
        }
        if storeIsValid, urlIsValid, cache.store == .postgres, cache.url == nil {
            report(fields.path("url"), "missing: store postgres needs a connection URL, e.g. postgres://bulwark@127.0.0.1/bulwark")
        }
        if let node = fields["staleIfError"], let age = duration(node, at: fields.path("staleIfError")) {
            cache.staleIfError = age
        }
        if let node = fields["maxBytes"] {
            if let bytes = integer(node, at: fields.path("maxBytes"), minimum: 1_048_576) { cache.maxBytes = bytes }
        } else if cache.store == .memory {
            cache.maxBytes = GatewayConfiguration.Cache.defaultMemoryBytes
        }
        return cache
    }

    // MARK: auth

    mutating func readAuth(_ node: Node, at path: String) -> GatewayConfiguration.Auth? {
        guard let fields = fields(node, at: path, known: ["adminKey", "keys"]) else { return nil }
        var auth = GatewayConfiguration.Auth(keys: [])
        if let node = fields["adminKey"], let value = value(node, at: fields.path("adminKey"), expected: "a key") {
            if value.text.isEmpty {
                report(fields.path("adminKey"), "empty: give the admin key a value, or remove adminKey to keep /admin closed")
            } else {
                auth.adminKey = value.text
            }
        }
        guard let keysNode = fields["keys"] else {
            report(fields.path("keys"), "missing: with auth on, every call needs an API key; add keys or remove auth for an open gateway")
            return auth
        }
        guard let items = list(keysNode, at: fields.path("keys")) else { return auth }
        if items.isEmpty {
            report(fields.path("keys"), "empty: with auth on, every call needs an API key; add keys or remove auth for an open gateway")
        }
        var keyOwners: [String: String] = [:]
        var nameOwners: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = "\(fields.path("keys"))[\(index)]"
            if let key = readAPIKey(item, at: itemPath, keyOwners: &keyOwners, nameOwners: &nameOwners) {
                auth.keys.append(key)
            }
        }
        if let adminKey = auth.adminKey, let owner = keyOwners[adminKey] {
            report(fields.path("adminKey"), "the same key as \(owner).key; the admin key must not double as a client key")
        }
        return auth
    }

    /// One API key; `keyOwners` and `nameOwners` map keys and names seen so far to their paths.
    mutating func readAPIKey(
        _ node: Node,
        at path: String,
        keyOwners: inout [String: String],
        nameOwners: inout [String: String]
    ) -> GatewayConfiguration.APIKey? {
        guard let fields = fields(node, at: path, known: ["key", "name", "priority", "rps", "burst", "methods"]) else { return nil }
        let key = required(fields, "key", expected: "a key")
        if let key {
            if key.text.isEmpty {
                report(fields.path("key"), "empty")
            } else if let owner = keyOwners[key.text] {
                report(fields.path("key"), "the same key as \(owner).key; each client needs its own key")
            } else {
                keyOwners[key.text] = path
            }
        }
        let name = required(fields, "name", expected: "a name")
        if let name {
            if !Self.isIdentifier(name.text) {
                report(fields.path("name"), "\(name.shown) is not a name of letters, digits, '.', '-' and '_' (it is shown in logs and metrics)")
            } else if let owner = nameOwners[name.text] {
                report(fields.path("name"), "'\(name.text)' is already the name of \(owner)")
            } else {
                nameOwners[name.text] = path
            }
        }
        var priority = GatewayConfiguration.Priority.normal
        if let node = fields["priority"], let value: GatewayConfiguration.Priority = choice(node, at: fields.path("priority"), what: "priority") {
            priority = value
        }
        let rps = fields["rps"].flatMap { number($0, at: fields.path("rps")) }
        let burst = fields["burst"].flatMap { number($0, at: fields.path("burst"), minimum: 1) }
        if fields["burst"] != nil, fields["rps"] == nil {
            report(fields.path("burst"), "needs rps: burst is the size of the rps token bucket")
        }
        let methods = fields["methods"].flatMap { readMethods($0, at: fields.path("methods")) }
        guard let key, !key.text.isEmpty, let name, Self.isIdentifier(name.text) else { return nil }
        return GatewayConfiguration.APIKey(key: key.text, name: name.text, priority: priority, rps: rps, burst: burst, methods: methods)
    }

    // MARK: chains

    mutating func readChains(_ node: Node, at path: String, listen: GatewayConfiguration.ListenAddress) -> [GatewayConfiguration.Chain] {
        guard let items = list(node, at: path) else { return [] }
        if items.isEmpty { report(path, "empty: at least one chain is needed") }
        var chains: [GatewayConfiguration.Chain] = []
        var chainOwners: [String: String] = [:]
        var upstreamOwners: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let chainPath = "\(path)[\(index)]"
            if let chain = readChain(item, at: chainPath, chainOwners: &chainOwners, upstreamOwners: &upstreamOwners, listen: listen) {
                chains.append(chain)
            }
        }
        return chains
    }

    mutating func readChain(
        _ node: Node,
        at path: String,
        chainOwners: inout [String: String],
        upstreamOwners: inout [String: String],
        listen: GatewayConfiguration.ListenAddress
    ) -> GatewayConfiguration.Chain? {
        guard let fields = fields(node, at: path, known: ["name", "kind", "chainId", "finalityDepth", "maxLag", "verify", "methods", "upstreams"]) else {
            return nil
        }
        var name: String?
        if let value = required(fields, "name", expected: "a name") {
            if !Self.isRouteSegment(value.text) {
                report(fields.path("name"), "\(value.shown) is not a valid route: use lowercase letters, digits, '-' and '_' (it becomes POST /<name>)")
            } else if reservedChainNames.contains(value.text) {
                report(fields.path("name"), "'\(value.text)' is reserved for the gateway's own /\(value.text) endpoint")
            } else if let owner = chainOwners[value.text] {
                report(fields.path("name"), "'\(value.text)' is already the name of \(owner); chain names are routes and must be unique")
            } else {
                chainOwners[value.text] = path
                name = value.text
            }
        }
        var kind = GatewayConfiguration.Chain.Kind.evm
        var kindIsValid = true
        if let node = fields["kind"] {
            if let value: GatewayConfiguration.Chain.Kind = choice(node, at: fields.path("kind"), what: "kind") { kind = value } else { kindIsValid = false }
        }
        var chainId: UInt64 = 0
        if let node = fields["chainId"] {
            if let id = integer(node, at: fields.path("chainId"), minimum: 1, hex: true) { chainId = UInt64(id) }
        } else if kind == .evm, kindIsValid {
            report(fields.path("chainId"), "missing: the chain's EIP-155 id (1 for Ethereum mainnet, 8453 for Base)")
        }
        var chain = GatewayConfiguration.Chain(name: name ?? "", kind: kind, chainId: chainId, upstreams: [])
        if let node = fields["finalityDepth"], let depth = integer(node, at: fields.path("finalityDepth"), minimum: 0) {
            chain.finalityDepth = depth
        }
        if let node = fields["maxLag"], let lag = integer(node, at: fields.path("maxLag"), minimum: 0) {
            chain.maxLag = lag
        }
        var quorumPath: String?
        if let node = fields["verify"], let verification = readVerification(node, at: fields.path("verify")) {
            chain.verify = verification.settings
            quorumPath = verification.quorumPath
            if chain.verify.enabled, kind == .bitcoin {
                report(fields.path("verify"), "verified reads check Ethereum headers and Merkle proofs: only for kind evm")
                quorumPath = nil
            }
        }
        if let node = fields["methods"] {
            chain.methods = readMethods(node, at: fields.path("methods"))
        }
        let errorsBeforeUpstreams = errors.count
        if let node = fields["upstreams"] {
            chain.upstreams = readUpstreams(node, at: fields.path("upstreams"), owners: &upstreamOwners, listen: listen)
        } else {
            report(fields.path("upstreams"), "missing: a chain needs at least one upstream")
        }
        // Only against a complete upstream list: with an upstream in error the count of domains would be wrong.
        if let quorumPath, chain.verify.enabled, errors.count == errorsBeforeUpstreams {
            checkQuorum(of: chain, at: quorumPath)
        }
        return name == nil ? nil : chain
    }

    /// `verify: true`, `verify: false`, or `verify: { enabled, quorumDomains, coolingPeriod }`; with the
    /// settings, the path the quorum should be reported at if the chain's upstreams cannot meet it.
    mutating func readVerification(_ node: Node, at path: String) -> (settings: GatewayConfiguration.Verification, quorumPath: String)? {
        let known = ["enabled", "quorumDomains", "coolingPeriod"]
        let expected = "true or false, or a mapping (with keys \(known.joined(separator: ", ")))"
        switch node {
        case .mapping:
            guard let fields = fields(node, at: path, known: known) else { return nil }
            var verification = GatewayConfiguration.Verification()
            var isValid = true
            if let node = fields["enabled"] {
                if let enabled = boolean(node, at: fields.path("enabled")) { verification.enabled = enabled } else { isValid = false }
            }
            if let node = fields["quorumDomains"] {
                if let count = integer(node, at: fields.path("quorumDomains"), minimum: GatewayConfiguration.Verification.minimumQuorumDomains) { verification.quorumDomains = count } else { isValid = false }
            }
            if let node = fields["coolingPeriod"] {
                if let period = duration(node, at: fields.path("coolingPeriod")) { verification.coolingPeriod = period } else { isValid = false }
            }
            guard isValid else { return nil }
            return (verification, fields["quorumDomains"] == nil ? path : fields.path("quorumDomains"))
        case .sequence:
            report(path, "expected \(expected), got \(Self.kind(of: node))")
            return nil
        case .scalar, .alias:
            guard let value = value(node, at: path, expected: expected) else { return nil }
            guard let enabled = Self.boolean(value.text) else {
                report(path, "expected true or false, got \(value.shown) (or a mapping with keys \(known.joined(separator: ", ")))")
                return nil
            }
            return (GatewayConfiguration.Verification(enabled: enabled), path)
        }
    }

    /// A header is only trusted when `quorumDomains` failure domains agree on its hash: the chain's
    /// upstreams must span at least that many, or no verified read could ever be answered.
    mutating func checkQuorum(of chain: GatewayConfiguration.Chain, at path: String) {
        let quorum = chain.verify.quorumDomains
        let domains = chain.failureDomains.count
        guard quorum > domains else { return }
        let has = domains == 1 ? "only 1 failure domain" : "only \(domains) failure domains"
        report(path, "verified reads need \(quorum) distinct failure domains to return the same block hash, "
            + "but this chain's upstreams are in \(has) (provider, cloud and region together); "
            + "add upstreams in other failure domains or " + (quorum > GatewayConfiguration.Verification.minimumQuorumDomains ? "lower quorumDomains" : "turn verify off"))
    }

    mutating func readMethods(_ node: Node, at path: String) -> GatewayConfiguration.MethodPolicy? {
        guard let fields = fields(node, at: path, known: ["allow", "deny"]) else { return nil }
        var policy = GatewayConfiguration.MethodPolicy()
        if let node = fields["allow"] {
            let patterns = readPatterns(node, at: fields.path("allow"))
            if patterns?.isEmpty == true {
                report(fields.path("allow"), "empty: an empty allow list allows no method; remove allow to allow every method")
            }
            policy.allow = patterns
        }
        if let node = fields["deny"] {
            policy.deny = readPatterns(node, at: fields.path("deny")) ?? []
        }
        return policy
    }

    /// Method names, each optionally ending in `*`.
    mutating func readPatterns(_ node: Node, at path: String) -> [String]? {
        guard let items = list(node, at: path) else { return nil }
        var patterns: [String] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let value = value(item, at: itemPath, expected: "a method name") else { continue }
            let name = value.text.hasSuffix("*") ? value.text.dropLast() : Substring(value.text)
            if name.contains("*") {
                report(itemPath, "\(value.shown): '*' is only allowed at the end (e.g. eth_*)")
            } else if value.text.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                report(itemPath, "\(value.shown) is not a method name (letters, digits and _), optionally ending in *")
            } else {
                patterns.append(value.text)
            }
        }
        return patterns
    }

    // MARK: upstreams

    mutating func readUpstreams(
        _ node: Node,
        at path: String,
        owners: inout [String: String],
        listen: GatewayConfiguration.ListenAddress
    ) -> [GatewayConfiguration.Upstream] {
        guard let items = list(node, at: path) else { return [] }
        if items.isEmpty { report(path, "empty: a chain needs at least one upstream") }
        var upstreams: [GatewayConfiguration.Upstream] = []
        var urlOwners: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            if let upstream = readUpstream(item, at: itemPath, idOwners: &owners, urlOwners: &urlOwners, listen: listen) {
                upstreams.append(upstream)
            }
        }
        return upstreams
    }

    /// One upstream; `idOwners` (whole configuration) and `urlOwners` (this chain) map ids and URLs seen so far to their paths.
    mutating func readUpstream(
        _ node: Node,
        at path: String,
        idOwners: inout [String: String],
        urlOwners: inout [String: String],
        listen: GatewayConfiguration.ListenAddress
    ) -> GatewayConfiguration.Upstream? {
        guard let fields = fields(node, at: path, known: ["id", "url", "ws", "labels", "maxRps", "maxBatch", "pipeline", "protocol", "headers"]) else { return nil }
        var id: String?
        if let value = required(fields, "id", expected: "an id") {
            if !Self.isIdentifier(value.text) {
                report(fields.path("id"), "\(value.shown) is not an id of letters, digits, '.', '-' and '_' (it is shown in headers, logs and metrics)")
            } else if let owner = idOwners[value.text] {
                report(fields.path("id"), "'\(value.text)' is already the id of \(owner); upstream ids must be unique in the configuration")
            } else {
                idOwners[value.text] = path
                id = value.text
            }
        }
        var url: String?
        if let value = required(fields, "url", expected: "an http:// or https:// URL") {
            url = endpoint(value, at: fields.path("url"), schemes: ["http", "https"], listen: listen)
            if let url {
                if let owner = urlOwners[url] {
                    report(fields.path("url"), "the same URL as \(owner).url; one endpoint listed twice skews routing and consensus")
                } else {
                    urlOwners[url] = path
                }
            }
        }
        var ws: String?
        if let node = fields["ws"], let value = value(node, at: fields.path("ws"), expected: "a ws:// or wss:// URL") {
            ws = endpoint(value, at: fields.path("ws"), schemes: ["ws", "wss"], listen: listen)
        }
        var labels: GatewayConfiguration.FailureDomain?
        if let node = fields["labels"] {
            labels = readLabels(node, at: fields.path("labels"))
        } else {
            report(fields.path("labels"), "missing: provider, cloud and region say which failures this upstream shares with others")
        }
        let maxRps = fields["maxRps"].flatMap { number($0, at: fields.path("maxRps")) }
        var maxBatch: Int?
        if let node = fields["maxBatch"] {
            maxBatch = integer(node, at: fields.path("maxBatch"), minimum: 1)
            if let size = maxBatch, size > 1000 { report(fields.path("maxBatch"), "\(size) is more than the 1000 calls any provider takes in one batch") }
        }
        var pipeline: Int?
        if let node = fields["pipeline"] {
            pipeline = integer(node, at: fields.path("pipeline"), minimum: 1)
            if let depth = pipeline, depth > 64 {
                report(fields.path("pipeline"), "\(depth) requests in flight on one connection is more than 64: one slow answer would hold up all of them")
            }
        }
        var http2 = false
        if let node = fields["protocol"], let value = value(node, at: fields.path("protocol"), expected: "http1 or http2") {
            switch value.text {
            case "http1": break
            case "http2":
                http2 = true
                if let depth = pipeline, depth > 1 {
                    report(fields.path("pipeline"), "pipelining is HTTP/1.1's; over HTTP/2 every call is a stream of one connection already (remove pipeline)")
                }
            default: report(fields.path("protocol"), "\(value.shown) is not a protocol: use http1 (the default) or http2")
            }
        }
        var headers: [String: String] = [:]
        if let node = fields["headers"] { headers = readHeaders(node, at: fields.path("headers")) }
        guard let id, let url, let labels else { return nil }
        return GatewayConfiguration.Upstream(id: id, url: url, ws: ws, labels: labels, maxRps: maxRps, maxBatch: maxBatch,
                                             pipeline: pipeline, http2: http2, headers: headers)
    }

    /// Checks an endpoint URL without ever quoting it (it may hold an API key).
    mutating func endpoint(_ value: Value, at path: String, schemes: [String], listen: GatewayConfiguration.ListenAddress) -> String? {
        let wanted = schemes.map { "\($0)://" }.joined(separator: " or ")
        switch EndpointURL.parse(value.text) {
        case .failure(let problem):
            report(path, problem.message + (value.variables.isEmpty ? "" : " (after replacing \(value.variables.map { "${\($0)}" }.joined(separator: ", ")))"))
            return nil
        case .success(let url):
            guard schemes.contains(url.scheme) else {
                report(path, "must start with \(wanted), not \(url.scheme)://")
                return nil
            }
            if url.isLoopbackHost, url.effectivePort == listen.port, EndpointURL.isLoopback(listen.host) {
                report(path, "points at the gateway's own address (server.listen \(listen)); an upstream must be another server")
                return nil
            }
            return value.text
        }
    }

    mutating func readLabels(_ node: Node, at path: String) -> GatewayConfiguration.FailureDomain? {
        guard let fields = fields(node, at: path, known: ["provider", "cloud", "region"]) else { return nil }
        var values: [String: String] = [:]
        for key in ["provider", "cloud", "region"] {
            guard let value = required(fields, key, expected: "a label") else { continue }
            if value.text.isEmpty {
                report(fields.path(key), "empty")
            } else if value.text.contains(where: { $0.isWhitespace || $0 == "/" }) {
                report(fields.path(key), "\(value.shown) may not contain spaces or '/'")
            } else {
                values[key] = value.text
            }
        }
        guard let provider = values["provider"], let cloud = values["cloud"], let region = values["region"] else { return nil }
        return GatewayConfiguration.FailureDomain(provider: provider, cloud: cloud, region: region)
    }

    /// HTTP headers sent to an upstream. Values are secrets (tokens) and never quoted.
    mutating func readHeaders(_ node: Node, at path: String) -> [String: String] {
        guard case .mapping(let mapping) = node else {
            report(path, "expected a mapping of header names to values, got \(Self.kind(of: node))")
            return [:]
        }
        var headers: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            let headerPath = Self.join(path, name)
            if name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) }) {
                report(headerPath, "'\(name)' is not an HTTP header name")
                continue
            }
            if headers.keys.contains(where: { $0.lowercased() == name.lowercased() }) {
                report(headerPath, "set twice (header names are case-insensitive)")
                continue
            }
            guard let value = value(valueNode, at: headerPath, expected: "a header value") else { continue }
            if value.text.contains(where: { $0 == "\r" || $0 == "\n" }) {
                report(headerPath, "the value contains a line break")
                continue
            }
            headers[name] = value.text
        }
        return headers
    }

    // MARK: Names

    /// Chain names become `POST /{name}`.
    static func isRouteSegment(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Upstream ids and key names appear in headers, logs and metric labels.
    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}
