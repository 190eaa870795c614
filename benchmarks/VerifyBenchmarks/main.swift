// What verified mode costs per read, beside the same read unverified:
//   swift run -c release verify-bench [--calls N] [--rounds N] [--only TEXT]
// A simnet in-process on loopback (100 blocks, one transfer in each) behind two routers with no
// cache — one unverified, one verified (headers trusted on 2 failure domains' word) — each behind
// the gateway's edge (`Gateway.handle`, the whole JSON-RPC path without sockets). One caller at a
// time; no head polling while measuring, so the faces' request counters see only the calls the
// reads cause. For eth_getBalance, eth_getBlockByNumber and eth_getTransactionReceipt, warm (the
// block's header already trusted) and cold (not yet), it prints per read: p50/p99 latency,
// upstream calls, process CPU; beside what the same upstream calls cost made directly on one face
// with the bare transport (the simnet's and the transport's share of that CPU, since the simnet
// runs in this process), and the verification checks alone, without I/O. Paths and direct calls
// are measured in interleaved passes, so the machine's changing load falls on all of them alike.
import BulwarkServer
import EthereumKit
import Failsafe
import Foundation
import Logging
import NIOCore
import Routing
import Simnet
import Upstreams

let arguments = CommandLine.arguments
@MainActor func option(_ name: String, default value: Int) -> Int {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? Int(arguments[$0 + 1]) : nil } ?? value
}
/// Reads per warm or unverified path; cold paths are limited by the blocks there are.
let calls = option("--calls", default: 5_000)
/// Interleaved passes; in each, every cold path gets a fresh verified router (nothing but the head trusted).
let rounds = option("--rounds", default: 10)

var quiet = Logger(label: "verify-bench")
quiet.logLevel = .critical

// MARK: The chain

var simnetConfiguration = SimnetConfiguration()
simnetConfiguration.blockTime = nil
let simnet = Simnet(configuration: simnetConfiguration, logger: quiet)
try await simnet.start()
let chain = simnet.chain
/// Hash of the one transfer in block n is `transferHashes[n - 1]`.
var transferHashes: [Bytes32] = []
var nonces = [UInt64](repeating: 0, count: chain.accounts.count)
for i in 0..<100 {
    let sender = i % chain.accounts.count
    let transfer = try SignedTransaction.signed(
        kind: .dynamicFee, chainId: chain.chainId, nonce: nonces[sender], maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00],
        maxFeePerGas: [0x77, 0x35, 0x94, 0x00], gas: 21_000, to: chain.accounts[(sender + 1) % chain.accounts.count].address,
        value: [0x01, 0x00], privateKey: chain.accounts[sender].privateKey
    )
    transferHashes.append(try chain.submit(raw: transfer.raw))
    nonces[sender] += 1
    simnet.mine()
}
let head = chain.headNumber
precondition(head == 100 && transferHashes.indices.allSatisfy { chain.blockNumber(ofTransaction: transferHashes[$0]) == UInt64($0 + 1) })

// MARK: Reads and their ground truth

/// One client read and how to recognise its right answer.
struct Read {
    let body: [UInt8]
    let isRight: (JSONValue) -> Bool
}

func quantity(_ number: UInt64) -> String { JSONValue.quantity(number).stringValue! }
func request(_ method: String, _ params: String) -> [UInt8] {
    Array(#"{"jsonrpc":"2.0","id":1,"method":"\#(method)","params":[\#(params)]}"#.utf8)
}

/// The development accounts and the counter contract: consecutive reads ask for different accounts.
let addresses = chain.accounts.map(\.address) + [SimulatedChain.counterContract]

@MainActor func balance(account: Int, block: UInt64, tag: String? = nil) -> Read {
    let address = addresses[account % addresses.count]
    let truth = JSONValue.quantity(bigEndian: chain.balance(of: address, atBlock: block)!)
    return Read(body: request("eth_getBalance", #""\#(Hex.encode(address))","\#(tag ?? quantity(block))""#)) { $0 == truth }
}

@MainActor func blockByNumber(_ number: UInt64) -> Read {
    let truth = chain.blockHash(number)!.description
    return Read(body: request("eth_getBlockByNumber", #""\#(quantity(number))",false"#)) { $0["hash"]?.stringValue == truth }
}

@MainActor func receipt(inBlock number: UInt64) -> Read {
    let hash = transferHashes[Int(number) - 1].description
    return Read(body: request("eth_getTransactionReceipt", #""\#(hash)""#)) {
        $0["transactionHash"]?.stringValue == hash && $0["blockNumber"]?.quantityValue == number && $0["status"] == .string("0x1")
    }
}

/// Blocks below the head, cycled through by the warm and unverified paths.
@MainActor func historic(_ i: Int) -> UInt64 { 1 + UInt64(i % Int(head - 1)) }
/// Cold, one step down a trusted hash chain: each block is the parent of the one read before it (the head is trusted).
let walkingBack = Array(stride(from: head - 1, through: 1, by: -1))
/// Cold, no trusted neighbour: every other block, so no block's child is trusted when it is read.
let everyOther = Array(stride(from: head - 2, through: 1, by: -2))

// MARK: Routers

@MainActor func routerConfiguration(verified: Bool) -> RouterConfiguration {
    var configuration = RouterConfiguration(chainName: "eth", chainId: chain.chainId, upstreams: simnet.faces.map { face in
        UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
    })
    configuration.finalityDepth = simnetConfiguration.finalityDepth
    if verified { configuration.verification = .init(quorumDomains: 2, coolingPeriod: .seconds(60)) }
    return configuration
}

/// A router (no cache) behind a gateway, heads polled; the polls also open a connection to every face on
/// both event loops, so no measured read pays for a connect. With verification on, the head's header is
/// now trusted (the polls' head blocks are its witnesses) and no other.
@MainActor func makeGateway(verified: Bool) async throws -> (Gateway, ChainRouter) {
    let router = try ChainRouter(configuration: routerConfiguration(verified: verified), logger: quiet)
    for _ in 0..<4 { await router.pollHeads() }
    precondition(router.consensusHead == head, "no consensus head")
    return (Gateway(chains: [GatewayChain(name: "eth", router: router)], logger: quiet), router)
}

func processCPU() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
}

@MainActor func upstreamRequests() -> Int { simnet.faces.reduce(0) { $0 + $1.requestsReceived } }

// MARK: Measuring through the gateway

/// One row: a read over one path, and the upstream calls that path makes by the code (for the direct baseline).
struct Row {
    let read: String
    let path: String
    let upstreamMethods: [String]
    var latencies: [Duration] = []
    var upstreamCalls = 0
    var cpu: Duration = .zero
}

/// Sends `reads` one after another; adds their latencies, upstream calls and process CPU to `row`,
/// then checks every answer (after the clock stopped) against the chain.
@MainActor func measure(_ reads: [Read], through gateway: Gateway, verified: Bool, into row: inout Row) async {
    var responses: [EdgeResponse] = []
    responses.reserveCapacity(reads.count)
    row.latencies.reserveCapacity(row.latencies.count + reads.count)
    let requestsBefore = upstreamRequests()
    let cpuBefore = processCPU()
    for read in reads {
        let start = ContinuousClock.now
        let response = await gateway.handle(route: "eth", body: read.body)
        row.latencies.append(ContinuousClock.now - start)
        responses.append(response)
    }
    row.cpu += processCPU() - cpuBefore
    row.upstreamCalls += upstreamRequests() - requestsBefore
    for (read, response) in zip(reads, responses) {
        let json = try? JSONValue.parse(Array(response.body.utf8))
        precondition(response.status == 200 && json?["result"].map(read.isRight) == true,
                     "\(row.read) \(row.path): \(String(decoding: read.body, as: UTF8.self)) answered \(response.status) \(response.body.prefix(300))")
        let header = response.headers.first { $0.0 == "X-Bulwark-Verified" }?.1
        precondition(header == (verified ? "true" : nil), "\(row.read) \(row.path): X-Bulwark-Verified is \(header ?? "absent")")
    }
}

let block = "eth_getBlockByNumber", proof = "eth_getProof", receipts = "eth_getBlockReceipts", transaction = "eth_getTransactionReceipt"
let (plain, plainRouter) = try await makeGateway(verified: false)
let (verified, verifiedRouter) = try await makeGateway(verified: true)

// Warm: the head's header is trusted by the polls; trust the rest of the chain too by reading every
// block walking back from the head (each is the parent of a trusted one), unmeasured.
for number in walkingBack {
    let response = await verified.handle(route: "eth", body: blockByNumber(number).body)
    precondition(response.status == 200, "warming: \(response.body)")
}

/// Where a path's reads go: a long-lived gateway (warm or unverified), or a fresh verified router per
/// pass that reads `blocks` in order (cold: nothing but the head trusted when it starts).
enum Source {
    case steady(Gateway, verified: Bool, (Int) -> Read)
    case cold(blocks: [UInt64], (Int, UInt64) -> Read)
}

struct Path {
    var row: Row
    let source: Source
}

var paths: [Path] = []
@MainActor func add(_ read: String, _ path: String, upstream: [String], _ source: Source) {
    paths.append(Path(row: Row(read: read, path: path, upstreamMethods: upstream), source: source))
}

add("eth_getBalance", "unverified, `latest`", upstream: ["eth_getBalance"], .steady(plain, verified: false) { balance(account: $0, block: head, tag: "latest") })
add("eth_getBalance", "verified, warm, `latest` (head trusted by the poll)", upstream: [proof],
    .steady(verified, verified: true) { balance(account: $0, block: head, tag: "latest") })
add("eth_getBalance", "unverified, historic block", upstream: ["eth_getBalance"], .steady(plain, verified: false) { balance(account: $0, block: historic($0)) })
add("eth_getBalance", "verified, warm, historic block (header trusted)", upstream: [proof],
    .steady(verified, verified: true) { balance(account: $0, block: historic($0)) })
add("eth_getBalance", "verified, cold: parent of a trusted header", upstream: [block, proof],
    .cold(blocks: walkingBack) { balance(account: $0, block: $1) })
add("eth_getBalance", "verified, cold: header by quorum of 2 domains", upstream: [block, block, proof],
    .cold(blocks: everyOther) { balance(account: $0, block: $1) })

add(block, "unverified, historic block", upstream: [block], .steady(plain, verified: false) { blockByNumber(historic($0)) })
add(block, "verified, warm (header trusted)", upstream: [block], .steady(verified, verified: true) { blockByNumber(historic($0)) })
add(block, "verified, cold: parent of a trusted header", upstream: [block, block], .cold(blocks: walkingBack) { blockByNumber($1) })
add(block, "verified, cold: header by quorum of 2 domains", upstream: [block, block, block], .cold(blocks: everyOther) { blockByNumber($1) })

add(transaction, "unverified", upstream: [transaction], .steady(plain, verified: false) { receipt(inBlock: historic($0)) })
add(transaction, "verified, warm (header trusted)", upstream: [transaction, receipts], .steady(verified, verified: true) { receipt(inBlock: historic($0)) })
add(transaction, "verified, cold: parent of a trusted header", upstream: [transaction, block, receipts],
    .cold(blocks: walkingBack) { receipt(inBlock: $1) })
add(transaction, "verified, cold: header by quorum of 2 domains", upstream: [transaction, block, block, receipts],
    .cold(blocks: everyOther) { receipt(inBlock: $1) })

// `--only TEXT`: measure only the paths whose name contains TEXT (e.g. to profile one with perf).
if let index = arguments.firstIndex(of: "--only"), index + 1 < arguments.count {
    paths = paths.filter { ($0.row.read + " " + $0.row.path).contains(arguments[index + 1]) }
}

// MARK: The same upstream calls, made directly

/// The upstream body each method's calls carry (as the router writes them), for a block or account.
@MainActor func upstreamBody(_ method: String, _ i: Int) -> String {
    let number = historic(i)
    let address = Hex.encode(addresses[i % addresses.count])
    let params = switch method {
    case "eth_getBalance": #""\#(address)","\#(quantity(number))""#
    case "eth_getProof": #""\#(address)",[],"\#(quantity(number))""#
    case "eth_getBlockByNumber": #""\#(quantity(number))",false"#
    case "eth_getTransactionReceipt": #""\#(transferHashes[Int(number) - 1])""#
    case "eth_getBlockReceipts": #""\#(chain.blockHash(number)!)""#
    default: fatalError("no upstream body for \(method)")
    }
    return #"{"jsonrpc":"2.0","id":\#(i + 1),"method":"\#(method)","params":[\#(params)]}"#
}

/// One method's calls posted straight to one face with the gateway's own transport: what the simnet
/// (HTTP server and answer) and the transport's client side cost together.
struct Wire {
    var latencies: [Duration] = []
    var cpu: Duration = .zero
    var perCall: Duration { latencies.isEmpty ? .zero : cpu / latencies.count }
}

@MainActor func direct(_ method: String, _ range: Range<Int>, transport: UpstreamTransport, into wire: inout Wire) async throws {
    var failures = 0
    let cpuBefore = processCPU()
    for i in range {
        let start = ContinuousClock.now
        let response = try await transport.post(ByteBuffer(string: upstreamBody(method, i)), timeout: .seconds(3))
        wire.latencies.append(ContinuousClock.now - start)
        if response.status != 200 || response.body.readableBytesView.firstRange(of: Array(#""result""#.utf8)) == nil { failures += 1 }
    }
    wire.cpu += processCPU() - cpuBefore
    precondition(failures == 0, "\(method): \(failures) direct calls failed")
}

let transport = try UpstreamTransport(url: simnet.faces[0].url)
var wire: [String: Wire] = [:]
let wireMethods = Set(paths.flatMap(\.row.upstreamMethods)).sorted()

// MARK: Passes

// Unmeasured warm-up of every steady path and every direct call.
for path in paths {
    guard case .steady(let gateway, let verified, let make) = path.source else { continue }
    var warmUp = path.row
    await measure((0..<200).map(make), through: gateway, verified: verified, into: &warmUp)
}
for method in wireMethods {
    var warmUp = Wire()
    try await direct(method, 0..<100, transport: transport, into: &warmUp)
}

// Every pass measures a slice of every path and of every direct call, so that a change in the machine's
// load (other builds) falls on all of them alike rather than on whichever ran at the time.
let chunk = max(1, calls / rounds)
for pass in 0..<rounds {
    let slice = pass * chunk..<(pass + 1) * chunk
    for index in paths.indices {
        switch paths[index].source {
        case .steady(let gateway, let verified, let make):
            var row = paths[index].row
            await measure(slice.map(make), through: gateway, verified: verified, into: &row)
            paths[index].row = row
        case .cold(let blocks, let make):
            let (gateway, router) = try await makeGateway(verified: true)
            var row = paths[index].row
            await measure(blocks.enumerated().map { make($0.offset, $0.element) }, through: gateway, verified: true, into: &row)
            paths[index].row = row
            await router.shutdown()
        }
    }
    for method in wireMethods {
        var costs = wire[method] ?? Wire()
        try await direct(method, slice, transport: transport, into: &costs)
        wire[method] = costs
    }
}
let rows = paths.map(\.row)
await plainRouter.shutdown()
await verifiedRouter.shutdown()

// MARK: The checks alone, no I/O

/// Result bytes of one upstream call, as the router's check sees them.
@MainActor func result(_ method: String, _ i: Int) async throws -> [UInt8] {
    let response = try await transport.post(ByteBuffer(string: upstreamBody(method, i)), timeout: .seconds(3))
    return Array(try JSONValue.parse(Array(response.body.readableBytesView))["result"]!.serialized().utf8)
}

/// Process CPU per run of `body`, over enough runs to be measurable.
@MainActor func perRun(_ runs: Int = 20_000, _ body: () throws -> Void) rethrows -> Duration {
    try body()
    let before = processCPU()
    for _ in 0..<runs { try body() }
    return (processCPU() - before) / runs
}

let sample = 7  // block historic(7), account 7
let sampleBlock = historic(sample)
let sampleHeader = try BlockHeader(json: JSONValue.parse(try await result(block, sample)))
let proofBytes = try await result(proof, sample)
let parsedProof = try AccountProof(json: JSONValue.parse(proofBytes))
let blockBytes = try await result(block, sample)
let receiptBytes = try await result(transaction, sample)
let receiptsBytes = try await result(receipts, sample)
await transport.shutdown()
await simnet.stop()

let proofVerifyOnly = try perRun { _ = try parsedProof.verify(stateRoot: sampleHeader.stateRoot) }
let proofCheck = try perRun {
    let proof = try AccountProof(json: JSONValue.parse(proofBytes))
    precondition(proof.address == addresses[sample % addresses.count] && proof.storageProofs.isEmpty)
    _ = try proof.verify(stateRoot: sampleHeader.stateRoot)
}
let blockCheck = try perRun {
    let json = try JSONValue.parse(blockBytes)
    _ = try BlockVerifier.verify(block: json)
    let hash = try BlockHeader(json: json).hash
    precondition(hash == chain.blockHash(sampleBlock)!)
}
let receiptCheck = try perRun {
    let single = try JSONValue.parse(receiptBytes)
    let list = try JSONValue.parse(receiptsBytes)
    _ = try ReceiptsVerifier.verify(receipts: list, receiptsRoot: sampleHeader.receiptsRoot)
    let match = list.arrayValue?.first(where: { $0["transactionHash"] == single["transactionHash"] })
    precondition(match == single)
}

// MARK: Report

func microseconds(_ duration: Duration) -> String {
    let value = Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    return value >= 100 ? String(format: "%.0f µs", value) : String(format: "%.1f µs", value)
}

print("| read | path | p50 | p99 | upstream calls per read | process CPU per read | of which simnet + transport | Bulwark above the transport |")
print("|---|---|---|---|---|---|---|---|")
var notes: [String] = []
var aboveTransport: [String: Duration] = [:]
for row in rows {
    let sorted = row.latencies.sorted()
    let perRead = Double(row.upstreamCalls) / Double(sorted.count)
    let cpu = row.cpu / sorted.count
    let baseline = row.upstreamMethods.reduce(Duration.zero) { $0 + wire[$1]!.perCall }
    aboveTransport[row.read + " " + row.path] = cpu - baseline
    print("| \(row.read) | \(row.path) | \(microseconds(sorted[sorted.count / 2])) | \(microseconds(sorted[sorted.count * 99 / 100])) | "
          + "\(String(format: "%.2f", perRead)) | \(microseconds(cpu)) | \(microseconds(baseline)) | \(microseconds(cpu - baseline)) |")
    if abs(perRead - Double(row.upstreamMethods.count)) > 0.005 {
        notes.append("\(row.read), \(row.path): \(String(format: "%.3f", perRead)) upstream calls per read; the code's path makes \(row.upstreamMethods.count) (\(row.upstreamMethods.joined(separator: ", "))).")
    }
}
print("\nReads per row, in \(rounds) interleaved passes: warm and unverified \(chunk * rounds) (after 200 unmeasured); cold \(rounds) fresh routers × \(walkingBack.count) (walking back) or × \(everyOther.count) (every other block).")
print("Simnet + transport: the same upstream calls posted straight to one face with `UpstreamTransport`, process CPU per call:")
for (method, cost) in wire.sorted(by: { $0.key < $1.key }) {
    print("- \(method): \(microseconds(cost.perCall)) CPU, p50 \(microseconds(cost.latencies.sorted()[cost.latencies.count / 2])) (\(cost.latencies.count) calls)")
}
print("\n| the checks alone (no I/O) | CPU per check |")
print("|---|---|")
print("| eth_getProof: `verify(stateRoot:)` of a parsed proof (\(parsedProof.accountProof.count) nodes, \(proofBytes.count) bytes of JSON) | \(microseconds(proofVerifyOnly)) |")
print("| eth_getProof: parse + `AccountProof(json:)` + `verify(stateRoot:)`, as the router does | \(microseconds(proofCheck)) |")
print("| eth_getBlockByNumber: parse + `BlockVerifier.verify` + header hash (\(blockBytes.count) bytes) | \(microseconds(blockCheck)) |")
print("| eth_getTransactionReceipt: parse both + `ReceiptsVerifier.verify` + match (\(receiptsBytes.count) bytes of receipts) | \(microseconds(receiptCheck)) |")

@MainActor func figures(_ read: String, _ path: String) -> (calls: Double, cpu: Duration, aboveTransport: Duration)? {
    guard let row = rows.first(where: { $0.read == read && $0.path == path }) else { return nil }
    return (Double(row.upstreamCalls) / Double(row.latencies.count), row.cpu / row.latencies.count, aboveTransport[read + " " + path]!)
}
if let warm = figures("eth_getBalance", "verified, warm, `latest` (head trusted by the poll)"),
   let plain = figures("eth_getBalance", "unverified, `latest`") {
    print("""

        Target, warm verified eth_getBalance at `latest`: one upstream call → \(String(format: "%.2f", warm.calls)); \
        under 1 ms of Bulwark CPU → \(microseconds(warm.cpu)) of process CPU (simnet included), \(microseconds(warm.aboveTransport)) above the transport.
        Verified − unverified at `latest`: \(microseconds(warm.cpu - plain.cpu)) of process CPU, of which the simnet's proof instead of a \
        balance (and its longer answer through the transport) \(microseconds(wire[proof]!.perCall - wire["eth_getBalance"]!.perCall)); \
        verification's own addition above the transport \(microseconds(warm.aboveTransport - plain.aboveTransport)).
        """)
}
for note in notes { print("NOTE: \(note)") }
