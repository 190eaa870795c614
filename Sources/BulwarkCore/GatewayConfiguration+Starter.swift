extension GatewayConfiguration {
    /// The commented starter configuration `bulwark init` writes (also `examples/bulwark.example.yaml`):
    /// two chains, upstream slots for several providers in different failure domains with their keys
    /// taken from the environment, and every option at its default with a comment.
    ///
    /// With `INFURA_KEY`, `ALCHEMY_KEY`, `QUICKNODE_ETH_URL` and `QUICKNODE_BASE_URL` set it is valid,
    /// and no single provider, cloud or region failure takes a chain down.
    public static let starterYAML: String = #"""
        # Bulwark gateway configuration.
        #
        #   bulwark check-config bulwark.yaml   # validate; every error with its YAML path
        #   bulwark audit bulwark.yaml          # what one provider, cloud or region failure would do
        #   bulwark serve --config bulwark.yaml
        #
        # ${NAME} in a value is replaced by the environment variable NAME when the file is read
        # (a variable that is not set is an error): keep API keys in the environment, not here.
        # Durations take ms, s, m or h: 500ms, 10s, 5m, 1h.
        # Every option below is at its default; options shown commented out are off by default.

        server:
          listen: "127.0.0.1:8545"      # host:port to serve on; "0.0.0.0:8545" for every interface
          maxBodyBytes: 1048576         # largest request body in bytes; bigger gets HTTP 413
          maxBatchSize: 100             # most calls in one JSON-RPC batch; more gets HTTP 413
          requestTimeout: 10s           # budget for a whole client request, all retries included
          maxHeaderBytes: 16384         # request line and headers together; more gets HTTP 431
          maxJsonDepth: 64              # deepest nesting of arrays and objects in a request
          readTimeout: 10s              # a request must arrive whole within this (slow clients are cut off)
          idleTimeout: 60s              # keep-alive connections without a request are closed after this
          maxConnections: 4096          # client connections open at once; more are closed on arrival

        cache:
          store: sqlite                 # none | memory | sqlite | postgres
          path: ./bulwark-cache.sqlite  # sqlite: the database file
          # url: postgres://bulwark@127.0.0.1/bulwark   # postgres: several gateways share one cache
          # staleIfError: 5m            # when no upstream can answer, serve a cached answer up to this old
          maxBytes: 1073741824          # bound of the store (memory: 268435456); least recently used answers go first

        # auth:                         # absent: an open gateway. Present: every call needs an API key
        #   adminKey: ${BULWARK_ADMIN_KEY}      # for /admin/* (fault drills); absent: /admin is closed
        #   keys:
        #     - key: ${WITHDRAWALS_API_KEY}     # the secret the client presents
        #       name: withdrawals               # shown in logs and metrics instead of the key
        #       priority: normal                # critical | normal | bulk: under overload bulk is shed first, critical last
        #       rps: 100                        # calls per second; absent: no limit
        #       burst: 100                      # token-bucket size; default = rps
        #       methods: { allow: [eth_*], deny: [eth_sendRawTransaction] }   # on top of the chain's; absent: all it allows

        chains:
          - name: eth                   # served at POST /eth (and POST / when it is the only chain)
            kind: evm                   # evm | bitcoin
            chainId: 1                  # EIP-155 chain id the upstreams must serve
            finalityDepth: 64           # blocks below the head treated as final when there is no 'finalized' tag
            maxLag: 4                   # an upstream further behind the consensus head gets no head-dependent calls
            verify: false               # true: verified reads, answers proven against block hashes and Merkle roots
            # verify:                   # or a block in place of true/false, to tune verified reads:
            #   enabled: true           # default true when the block is present; false: off
            #   quorumDomains: 2        # distinct failure domains that must return the same block hash before a header is trusted
            #   coolingPeriod: 60s      # how long an upstream caught answering something that fails verification is left out
            # methods:                  # absent: every method an upstream serves
            #   allow: [eth_*, net_version, web3_clientVersion]   # '*' only at the end
            #   deny: [debug_*, admin_*, personal_*]              # deny wins over allow
            upstreams:
              # The labels say where each upstream really runs: provider, cloud and region together are its
              # failure domain; spread every chain over several so no single outage takes it down.
              # The clouds and regions below are examples: ask your providers, or use the endpoints
              # closest to you, and correct them. `bulwark audit` shows what each failure would do.
              - id: infura-eth
                url: https://mainnet.infura.io/v3/${INFURA_KEY}
                ws: wss://mainnet.infura.io/ws/v3/${INFURA_KEY}    # optional: WebSocket, for eth_subscribe
                labels: { provider: infura, cloud: aws, region: us-east-1 }
                # maxRps: 50            # most requests per second sent to this upstream; absent: no limit
                # maxBatch: 100         # client batches go on as JSON-RPC batches of up to this many calls; absent: one call per request
                # pipeline: 8           # HTTP/1.1 requests in flight on one connection (pipelining); absent: one at a time
                # headers: { Authorization: "Bearer ${INFURA_JWT}" }   # sent with every request; absent: none
              - id: alchemy-eth
                url: https://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}
                labels: { provider: alchemy, cloud: gcp, region: us-central1 }
                # protocol: http2       # every call a stream of one HTTP/2 connection (ALPN h2); absent: http1
              - id: quicknode-eth
                url: ${QUICKNODE_ETH_URL}     # your QuickNode endpoint's full URL, token included
                labels: { provider: quicknode, cloud: aws, region: eu-west-1 }
              - id: own-eth-node
                url: http://10.0.0.5:8545     # your own node, if you run one
                labels: { provider: self, cloud: hetzner, region: fsn1 }

          - name: base
            kind: evm
            chainId: 8453
            finalityDepth: 64
            maxLag: 4
            verify: false
            upstreams:
              - id: alchemy-base
                url: https://base-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}
                labels: { provider: alchemy, cloud: gcp, region: us-central1 }
              - id: infura-base
                url: https://base-mainnet.infura.io/v3/${INFURA_KEY}
                labels: { provider: infura, cloud: aws, region: us-east-1 }
              - id: quicknode-base
                url: ${QUICKNODE_BASE_URL}
                labels: { provider: quicknode, cloud: aws, region: eu-west-1 }

        """#
}
