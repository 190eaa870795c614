import EthereumKit

extension FailureDomainAudit {
    /// The report for people: the spread, what each single failure does, what to change,
    /// and a last line `verdict: safe: …` or `verdict: unsafe: …`.
    public func renderText() -> String {
        var lines: [String] = []
        lines.append("Failure-domain audit: \(plural(chains.count, "chain")), \(plural(upstreamCount, "upstream")) in \(plural(failureDomainCount, "failure domain"))")

        lines.append("")
        lines.append("Chains")
        let chainWidth = chains.map(\.name.count).max() ?? 0
        for chain in chains {
            var text = "\(plural(chain.upstreams, "upstream")) in \(plural(chain.failureDomains, "failure domain")): "
                + "\(plural(chain.providers, "provider")), \(plural(chain.clouds, "cloud"))"
            if chain.verify { text += ", verified reads" }
            lines.append("  \(pad(chain.name, chainWidth))  \(text)")
        }

        for (title, shares) in [("Upstreams per provider", providerShares), ("Upstreams per cloud", cloudShares),
                                ("Upstreams per region (cloud/region)", regionShares)] {
            lines.append("")
            lines.append(title)
            let nameWidth = shares.map(\.name.count).max() ?? 0
            let countWidth = shares.map { String($0.upstreams).count }.max() ?? 0
            for share in shares {
                lines.append("  \(pad(share.name, nameWidth))  \(pad(String(share.upstreams), countWidth, right: true))  \(pad(percent(share.percent), 6, right: true))")
            }
        }

        lines.append("")
        lines.append("If one of these fails")
        for group in scenarioGroups {
            let titles = group.map(\.title)
            let what = group.count == 1 ? titles[0] : "\(titles.dropLast().joined(separator: ", ")) or \(titles.last!)"
            lines.append("  \(what) (\(plural(group[0].upstreams, "upstream")))")
            for impact in group[0].impacts {
                lines.append("    \(pad(impact.chain, chainWidth))  \(describe(impact))")
            }
        }

        let fixes = fixSuggestions()
        if !fixes.isEmpty {
            lines.append("")
            lines.append("To fix")
            lines += fixes.map { "  " + $0 }
        }

        lines.append("")
        lines.append(verdict)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The last line of the text report.
    public var verdict: String {
        if isSafe {
            return "verdict: safe: no single provider, cloud, region or failure domain failure leaves a chain without upstreams"
        }
        let perChain = chains.compactMap { chain -> String? in
            let titles = unsafeScenarios.filter { $0.unavailableChains.contains(chain.name) }.map(\.title)
            guard let last = titles.last else { return nil }
            let which = titles.count == 1 ? last : "\(titles.dropLast().joined(separator: ", ")) or \(last)"
            return "\(chain.name) becomes unavailable if \(which) fails"
        }
        return "verdict: unsafe: " + perChain.joined(separator: "; ")
    }

    /// `becomes unavailable …` or `loses N of M upstreams …`.
    func describe(_ impact: ChainImpact) -> String {
        if impact.isUnavailable {
            return "becomes unavailable: loses \(impact.total == 1 ? "its only upstream" : "all \(impact.total) upstreams")"
        }
        var text = "loses \(impact.lost) of \(plural(impact.total, "upstream")): \(impact.remaining) left in \(plural(impact.remainingFailureDomains, "failure domain"))"
        if impact.verifiedReadsStop {
            let quorum = chains.first { $0.name == impact.chain }?.quorumDomains ?? GatewayConfiguration.Verification.defaultQuorumDomains
            text += "; verified reads stop (they need \(plural(quorum, "failure domain")) to agree)"
        }
        return text
    }

    /// For each chain a single failure takes down: the one change that fixes it.
    func fixSuggestions() -> [String] {
        chains.compactMap { chain in
            let killers = unsafeScenarios.filter { $0.unavailableChains.contains(chain.name) }
            guard !killers.isEmpty else { return nil }
            let provider = killers.first { $0.level == .provider }?.name
            let cloud = killers.first { $0.level == .cloud }?.name
            let all = chain.upstreams == 1 ? "its only upstream is" : "all \(chain.upstreams) upstreams are"
            switch (provider, cloud) {
            case let (provider?, cloud?):
                return "\(chain.name): \(all) from provider \(provider) in cloud \(cloud); add one from another provider in another cloud"
            case let (provider?, nil):
                return "\(chain.name): \(all) from provider \(provider); add one from another provider"
            case let (nil, cloud?):
                return "\(chain.name): \(all) in cloud \(cloud); add one in another cloud (or on your own hardware)"
            case (nil, nil):
                return "\(chain.name): add an upstream in another failure domain"
            }
        }
    }

    /// The report for machines. Keys: `safe`, `upstreams`, `failureDomains`, `chains`, `shares`
    /// (`provider`, `cloud`, `region`), `scenarios` (each with `level`, `name`, `match`, `upstreams`,
    /// `upstreamIds`, `leavesChainWithoutUpstreams`, `chains`), `unsafe` and `verdict`.
    public var jsonValue: JSONValue {
        func shares(_ list: [Share]) -> JSONValue {
            .array(list.map { .object(["name": .string($0.name), "upstreams": .number(Double($0.upstreams)),
                                       "percent": .number(($0.percent * 10).rounded() / 10)]) })
        }
        let chainValues: [JSONValue] = chains.map {
            .object([
                "name": .string($0.name), "upstreams": .number(Double($0.upstreams)),
                "failureDomains": .number(Double($0.failureDomains)), "providers": .number(Double($0.providers)),
                "clouds": .number(Double($0.clouds)), "verify": .bool($0.verify),
            ])
        }
        let scenarioValues: [JSONValue] = scenarios.map { scenario in
            .object([
                "level": .string(scenario.level.rawValue),
                "name": .string(scenario.name),
                "match": .object(scenario.match.mapValues(JSONValue.string)),
                "upstreams": .number(Double(scenario.upstreams)),
                "upstreamIds": .array(scenario.upstreamIDs.map(JSONValue.string)),
                "leavesChainWithoutUpstreams": .bool(scenario.leavesAChainWithoutUpstreams),
                "chains": .array(scenario.impacts.map { impact in
                    .object([
                        "chain": .string(impact.chain),
                        "lost": .number(Double(impact.lost)),
                        "total": .number(Double(impact.total)),
                        "remaining": .number(Double(impact.remaining)),
                        "remainingFailureDomains": .number(Double(impact.remainingFailureDomains)),
                        "unavailable": .bool(impact.isUnavailable),
                        "verifiedReadsStop": .bool(impact.verifiedReadsStop),
                    ])
                }),
            ])
        }
        return .object([
            "safe": .bool(isSafe),
            "upstreams": .number(Double(upstreamCount)),
            "failureDomains": .number(Double(failureDomainCount)),
            "chains": .array(chainValues),
            "shares": .object(["provider": shares(providerShares), "cloud": shares(cloudShares), "region": shares(regionShares)]),
            "scenarios": .array(scenarioValues),
            "unsafe": .array(unsafeScenarios.map {
                .object(["level": .string($0.level.rawValue), "name": .string($0.name),
                         "match": .object($0.match.mapValues(JSONValue.string)),
                         "chains": .array($0.unavailableChains.map(JSONValue.string))])
            }),
            "verdict": .string(verdict),
        ])
    }

    /// `jsonValue` as compact JSON text with sorted keys.
    public func renderJSON() -> String { jsonValue.serialized() }
}

func plural(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// `33.3%`, one decimal.
private func percent(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
}

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}
