/// Orders the upstreams to try for one request: the best first, and each retry in a failure
/// domain not tried yet.
///
/// Pure: the caller passes each candidate's score and availability (from ``UpstreamHealth``) and
/// whether it has the block the request needs (from ``ConsensusHead``), plus what this request
/// already tried; a random source breaks ties so equal upstreams share load, deterministically
/// under a seeded generator in tests.
///
/// The plan leaves out candidates that may not be tried now or lack the block, then picks one at
/// a time: each pick comes from a failure domain not yet tried by the request nor picked earlier
/// in the plan; when no such domain is left, a new round starts over the remaining domains.
/// Upstreams this request already tried come last, as a last resort. Within a pick:
/// - ``Strategy/lowestScore``: the lowest score; equal scores in random order.
/// - ``Strategy/powerOfTwoChoices``: the better of two drawn at random (Mitzenmacher's "power of
///   two choices"), which spreads load over good upstreams instead of herding onto the single
///   best, and never puts the worst of three or more first.
///
/// A NaN score counts as the worst.
public struct UpstreamSelector: Hashable, Sendable {
    /// How to choose among candidates of the eligible domains.
    public enum Strategy: Hashable, Sendable {
        case lowestScore
        case powerOfTwoChoices
    }

    /// An upstream that could serve the request.
    public struct Candidate<ID: Hashable & Sendable>: Hashable, Sendable {
        /// The upstream.
        public var id: ID
        /// Its failure domain.
        public var domain: FailureDomain
        /// ``UpstreamHealth/score(now:)``: lower is better.
        public var score: Double
        /// ``UpstreamHealth/mayTry(now:)``.
        public var mayTryNow: Bool
        /// Whether it has the block the request needs (and is not lagging, for head-dependent calls).
        public var hasBlock: Bool

        public init(id: ID, domain: FailureDomain, score: Double, mayTryNow: Bool = true, hasBlock: Bool = true) {
            self.id = id
            self.domain = domain
            self.score = score
            self.mayTryNow = mayTryNow
            self.hasBlock = hasBlock
        }
    }

    /// How each pick chooses among eligible candidates.
    public var strategy: Strategy

    public init(strategy: Strategy = .lowestScore) {
        self.strategy = strategy
    }

    /// The upstreams to try, in order.
    ///
    /// - Parameters:
    ///   - candidates: every upstream of the chain.
    ///   - triedDomains: failure domains this request has already tried.
    ///   - triedUpstreams: upstreams this request has already tried; they go last.
    ///   - generator: breaks ties (and draws pairs for ``Strategy/powerOfTwoChoices``).
    @inlinable
    public func order<ID>(
        _ candidates: [Candidate<ID>],
        triedDomains: Set<FailureDomain> = [],
        triedUpstreams: Set<ID> = [],
        using generator: inout some RandomNumberGenerator
    ) -> [ID] {
        // One random key per candidate, drawn in input order, so a seed fixes the result.
        var fresh: [Entry<ID>] = []
        fresh.reserveCapacity(candidates.count)
        var retried: [Entry<ID>] = []
        for candidate in candidates where candidate.mayTryNow && candidate.hasBlock {
            let key = generator.next()
            if !triedUpstreams.isEmpty && triedUpstreams.contains(candidate.id) {
                retried.append(Entry(candidate: candidate, key: key, domain: 0))
            } else {
                // Equal failure domains get equal numbers (few upstreams per chain: a scan, no hashing).
                let domain = fresh.first { $0.candidate.domain == candidate.domain }?.domain ?? fresh.count
                fresh.append(Entry(candidate: candidate, key: key, domain: domain))
            }
        }

        var plan: [ID] = []
        plan.reserveCapacity(fresh.count + retried.count)
        // Scratch space on the stack: which domains are used (by number), and the eligible entries of a pick.
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: max(fresh.count, 1)) { used in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(fresh.count, 1)) { pool in
                used.initialize(repeating: false)
                if !triedDomains.isEmpty {
                    for entry in fresh where triedDomains.contains(entry.candidate.domain) { used[entry.domain] = true }
                }
                while !fresh.isEmpty {
                    var eligible = 0
                    for index in fresh.indices where !used[fresh[index].domain] {
                        pool[eligible] = index
                        eligible += 1
                    }
                    if eligible == 0 {
                        used.update(repeating: false)
                        for index in fresh.indices { pool[index] = index }
                        eligible = fresh.count
                    }
                    let chosen = pick(from: UnsafeBufferPointer(rebasing: pool[..<eligible]), in: fresh, using: &generator)
                    let entry = fresh.remove(at: chosen)
                    plan.append(entry.candidate.id)
                    used[entry.domain] = true
                }
            }
        }
        if !retried.isEmpty { plan += retried.sorted { Self.isBetter($0, than: $1) }.map(\.candidate.id) }
        return plan
    }

    /// A candidate that can be tried, with its random tie-breaking key and its failure domain's number.
    @usableFromInline
    struct Entry<ID: Hashable & Sendable> {
        @usableFromInline var candidate: Candidate<ID>
        @usableFromInline var key: UInt64
        @usableFromInline var domain: Int

        @inlinable
        init(candidate: Candidate<ID>, key: UInt64, domain: Int) {
            self.candidate = candidate
            self.key = key
            self.domain = domain
        }
    }

    /// ``order(_:triedDomains:triedUpstreams:using:)`` with the system's random numbers.
    public func order<ID>(
        _ candidates: [Candidate<ID>],
        triedDomains: Set<FailureDomain> = [],
        triedUpstreams: Set<ID> = []
    ) -> [ID] {
        var generator = SystemRandomNumberGenerator()
        return order(candidates, triedDomains: triedDomains, triedUpstreams: triedUpstreams, using: &generator)
    }

    @inlinable
    func pick<ID>(
        from pool: UnsafeBufferPointer<Int>,
        in entries: [Entry<ID>],
        using generator: inout some RandomNumberGenerator
    ) -> Int {
        switch strategy {
        case .lowestScore:
            return pool.min { Self.isBetter(entries[$0], than: entries[$1]) }!
        case .powerOfTwoChoices:
            guard pool.count > 1 else { return pool[0] }
            let first = Int.random(in: 0..<pool.count, using: &generator)
            var second = Int.random(in: 0..<(pool.count - 1), using: &generator)
            if second >= first { second += 1 }
            let (a, b) = (pool[first], pool[second])
            return Self.isBetter(entries[a], than: entries[b]) ? a : b
        }
    }

    @inlinable
    static func isBetter<ID>(_ lhs: Entry<ID>, than rhs: Entry<ID>) -> Bool {
        let left = lhs.candidate.score.isNaN ? .infinity : lhs.candidate.score
        let right = rhs.candidate.score.isNaN ? .infinity : rhs.candidate.score
        return left != right ? left < right : lhs.key < rhs.key
    }
}
