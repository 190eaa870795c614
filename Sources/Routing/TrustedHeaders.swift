import EthereumKit
import Synchronization

/// Block headers the gateway trusts (SPEC section 5): a header is trusted when upstreams in at
/// least `quorumDomains` failure domains returned the same hash for its number and
/// `keccak256(rlp(header))` equals that hash; a header whose hash is the `parentHash` of a
/// trusted header is trusted too (the hash chain proves it). Bounded: the newest `capacity`
/// headers are kept.
final class TrustedHeaders: Sendable {
    struct Entry: Sendable, Equatable {
        let hash: Bytes32
        let header: BlockHeader
    }

    private struct State {
        var byNumber: [UInt64: Entry] = [:]
        var numberByHash: [Bytes32: UInt64] = [:]
    }

    let quorumDomains: Int
    let capacity: Int
    private let state = Mutex(State())

    init(quorumDomains: Int, capacity: Int = 4096) {
        self.quorumDomains = quorumDomains
        self.capacity = capacity
    }

    func header(number: UInt64) -> Entry? { state.withLock { $0.byNumber[number] } }

    func header(hash: Bytes32) -> Entry? {
        state.withLock { state in state.numberByHash[hash].flatMap { state.byNumber[$0] } }
    }

    var count: Int { state.withLock { $0.byNumber.count } }

    /// One upstream's answer for the header at a height: its failure domain and the block JSON.
    struct Witness {
        let domain: FailureDomainKey
        let block: JSONValue
    }

    typealias FailureDomainKey = String

    /// What the witnesses of one height prove.
    enum Verdict: Equatable {
        /// Trusted: enough domains agree and the header hashes to it.
        case trusted(Entry)
        /// Not (yet) enough domains agree.
        case noQuorum
    }

    /// Judges the witnesses of one height; returns the verdict and the indices of witnesses
    /// whose block does not hash to its own `hash` or disagrees with a trusted majority (liars).
    func judge(_ witnesses: [Witness]) -> (verdict: Verdict, liars: [Int]) {
        var liars: [Int] = []
        var byHash: [Bytes32: (header: BlockHeader, domains: Set<FailureDomainKey>, members: [Int])] = [:]
        for (index, witness) in witnesses.enumerated() {
            guard let header = try? BlockHeader(json: witness.block), let claimed = witness.block["hash"]?.stringValue,
                  let claimedBytes = try? Hex.decode(claimed), claimedBytes.count == 32 else {
                liars.append(index)
                continue
            }
            let hash = header.hash
            guard hash.bytes == claimedBytes else {
                liars.append(index)
                continue
            }
            byHash[hash, default: (header, [], [])].domains.insert(witness.domain)
            byHash[hash]?.members.append(index)
        }
        guard let best = byHash.max(by: { $0.value.domains.count < $1.value.domains.count }), best.value.domains.count >= quorumDomains else {
            return (.noQuorum, liars)
        }
        let entry = Entry(hash: best.key, header: best.value.header)
        for (hash, group) in byHash where hash != best.key { liars += group.members }
        insert(entry)
        return (.trusted(entry), liars.sorted())
    }

    /// Trusts `header` because it hashes to the `parentHash` of the trusted header above it.
    func trustParent(_ header: BlockHeader, of child: Entry) -> Entry? {
        let hash = header.hash
        guard hash == child.header.parentHash, header.blockNumber + 1 == child.header.blockNumber else { return nil }
        let entry = Entry(hash: hash, header: header)
        insert(entry)
        return entry
    }

    /// A header this gateway trusted before (kept in its cache store): trusted again as it is.
    func adopt(_ header: BlockHeader) -> Entry {
        let entry = Entry(hash: header.hash, header: header)
        insert(entry)
        return entry
    }

    /// A header that proves itself by its hash (a call that names the block by hash). Not kept:
    /// a block named by hash need not be the one the chain has at its number.
    static func selfCertified(_ header: BlockHeader, hash: Bytes32) -> Entry? {
        guard header.hash == hash else { return nil }
        return Entry(hash: hash, header: header)
    }

    /// How far below a reorganised height trusted headers are dropped (deeper reorgs are beyond any finality rule).
    static let reorgWindow: UInt64 = 128

    private func insert(_ entry: Entry) {
        state.withLock { state in
            let number = entry.header.blockNumber
            // A new header at a known height, or one that is not the child of the header trusted
            // below it: the chain was reorganised, and the headers trusted near it may be from the
            // abandoned branch. Drop them; they are proven again when asked for.
            let replacesAnother = state.byNumber[number].map { $0.hash != entry.hash } ?? false
            let breaksTheChain = number > 0 && (state.byNumber[number - 1].map { $0.hash != entry.header.parentHash } ?? false)
            if replacesAnother || breaksTheChain {
                let floor = number > Self.reorgWindow ? number - Self.reorgWindow : 0
                for stale in state.byNumber.keys where stale >= floor && stale != number {
                    if let removed = state.byNumber.removeValue(forKey: stale) { state.numberByHash[removed.hash] = nil }
                }
            }
            if let replaced = state.byNumber[number] { state.numberByHash[replaced.hash] = nil }
            state.byNumber[number] = entry
            state.numberByHash[entry.hash] = number
            if state.byNumber.count > capacity, let oldest = state.byNumber.keys.min() {
                if let removed = state.byNumber.removeValue(forKey: oldest) { state.numberByHash[removed.hash] = nil }
            }
        }
    }
}
