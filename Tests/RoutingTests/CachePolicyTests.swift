import EthereumKit
import Testing

@testable import Routing

/// What may be cached and where (SPEC section 6), decided without I/O.
struct CachePolicyTests {
    let chain = CachePolicy.Chain(head: 1_000, finalized: 936)

    func rule(_ method: String, _ params: String?) throws -> CachePolicy.Rule {
        try CachePolicy.rule(method: method, params: params.map { try JSONValue.parse(Array($0.utf8)) })
    }

    func place(_ method: String, _ params: String?, result: String) throws -> CachePolicy.Placement {
        CachePolicy.placement(try rule(method, params), result: Array(result.utf8), chain: chain)
    }

    @Test func writesPendingStateFiltersAndNodeLocalCallsAreNeverCached() throws {
        for (method, params) in [
            ("eth_sendRawTransaction", #"["0x02f8"]"#), ("eth_sendTransaction", "[{}]"), ("eth_newFilter", "[{}]"),
            ("eth_getFilterChanges", #"["0x1"]"#), ("eth_getFilterLogs", #"["0x1"]"#), ("eth_uninstallFilter", #"["0x1"]"#),
            ("eth_newBlockFilter", "[]"), ("eth_subscribe", #"["newHeads"]"#), ("eth_syncing", "[]"), ("eth_accounts", "[]"),
            ("web3_clientVersion", "[]"), ("txpool_content", "[]"), ("debug_traceTransaction", #"["0x1"]"#), ("made_up", "[]"),
            ("eth_getBalance", #"["0x01","pending"]"#), ("eth_getBlockByNumber", #"["pending",false]"#),
            ("eth_getLogs", #"[{"fromBlock":"pending"}]"#),
        ] {
            #expect(try rule(method, params) == .never, "\(method) \(params)")
        }
    }

    @Test func blocksAtOrBelowTheFinalityBoundaryAreFinalAboveItOnlyForTheHead() throws {
        #expect(try place("eth_getBlockByNumber", #"["0x3a8",false]"#, result: #"{"number":"0x3a8"}"#) == .final)  // 936
        #expect(try place("eth_getBlockByNumber", #"["0x3a9",false]"#, result: #"{"number":"0x3a9"}"#) == .head)  // 937
        #expect(try place("eth_getBalance", #"["0x01","0x3e8"]"#, result: #""0x10""#) == .head)  // the head itself
        #expect(try place("eth_getBalance", #"["0x01","0x3e9"]"#, result: #""0x10""#) == .none)  // beyond the head
        #expect(try place("eth_getBalance", #"["0x01","earliest"]"#, result: #""0x0""#) == .final)
        #expect(try place("eth_getStorageAt", #"["0x01","0x0",{"blockNumber":"0x10"}]"#, result: #""0x0""#) == .final)
        #expect(try place("eth_call", #"[{"to":"0x01"},{"blockHash":"0xab"}]"#, result: #""0x""#) == .head)
        // A missing block at a final height is one upstream's gap, not an answer to keep.
        #expect(try place("eth_getBlockByNumber", #"["0x10",false]"#, result: "null") == .none)
    }

    @Test func answersNamingTheirBlockAreFinalOnlyWhenThatBlockIs() throws {
        #expect(try place("eth_getBlockByHash", #"["0x\#(String(repeating: "a", count: 64))",true]"#, result: #"{"number":"0x10","hash":"0xaa"}"#) == .final)
        #expect(try place("eth_getBlockByHash", #"["0x\#(String(repeating: "a", count: 64))",true]"#, result: #"{"number":"0x3e0"}"#) == .head)
        #expect(try place("eth_getBlockByHash", #"["0x\#(String(repeating: "a", count: 64))",true]"#, result: "null") == .head)
        #expect(try place("eth_getBlockReceipts", #"["0x\#(String(repeating: "b", count: 64))"]"#, result: #"[{"blockNumber":"0x20"},{"blockNumber":"0x20"}]"#) == .final)
        #expect(try place("eth_getBlockReceipts", #"["0x20"]"#, result: #"[{"blockNumber":"0x20"}]"#) == .final)
    }

    @Test func transactionsAreFinalOnceTheirBlockIsAndNotCachedBeforeTheyAreMined() throws {
        let hash = #"["0x\#(String(repeating: "c", count: 64))"]"#
        #expect(try place("eth_getTransactionReceipt", hash, result: #"{"blockNumber":"0x100","status":"0x1"}"#) == .final)
        #expect(try place("eth_getTransactionReceipt", hash, result: #"{"blockNumber":"0x3e7","status":"0x1"}"#) == .head)
        #expect(try place("eth_getTransactionReceipt", hash, result: "null") == .none)
        #expect(try place("eth_getTransactionByHash", hash, result: #"{"blockNumber":null,"hash":"0xcc"}"#) == .none)
    }

    @Test func logsAreFinalWhenTheWholeRangeIs() throws {
        #expect(try place("eth_getLogs", #"[{"fromBlock":"0x1","toBlock":"0x3a8"}]"#, result: "[]") == .final)
        #expect(try place("eth_getLogs", #"[{"fromBlock":"0x1","toBlock":"0x3e8"}]"#, result: "[]") == .head)
        #expect(try place("eth_getLogs", #"[{"fromBlock":"0x1"}]"#, result: "[]") == .head)
        #expect(try place("eth_getLogs", #"[{"blockHash":"0xab"}]"#, result: #"[{"blockNumber":"0x5"}]"#) == .final)
        #expect(try place("eth_getLogs", #"[{"blockHash":"0xab"}]"#, result: "[]") == .head)
    }

    @Test func headReadsLiveOnlyWithTheHead() throws {
        for method in ["eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_blobBaseFee", "eth_estimateGas"] {
            #expect(try place(method, "[]", result: #""0x1""#) == .head)
        }
        #expect(try place("eth_getBalance", #"["0x01","safe"]"#, result: #""0x1""#) == .head)
        #expect(try place("eth_getBalance", #"["0x01"]"#, result: #""0x1""#) == .head)
        #expect(try place("net_version", "[]", result: #""1""#) == .final)
    }
}
