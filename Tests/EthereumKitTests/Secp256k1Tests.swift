import Testing
@testable import EthereumKit

/// secp256k1 against published values: the generator and its small multiples (SEC 2),
/// well-known Ethereum addresses, RFC 6979 signatures from bitcoinjs-lib's fixtures
/// (test/fixtures/ecdsa.json, MIT), SHA-256 and HMAC vectors from FIPS 180-2 and RFC 4231,
/// and field arithmetic checked against results computed with Python's integers.
@Suite struct Secp256k1Tests {
    static let order = [UInt8](hex: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
    static let generatorX = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    static let generatorY = "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"

    static func key(_ hex: String) -> [UInt8] {
        [UInt8](hex: String(repeating: "0", count: 64 - hex.count) + hex)
    }

    // MARK: Public keys and addresses

    /// 1·G, 2·G, 3·G and (n−1)·G = −G are the published points.
    @Test func publicKeysOfSmallKeysAreMultiplesOfTheGenerator() throws {
        #expect(try Secp256k1.publicKey(privateKey: Self.key("1")) == [UInt8](hex: Self.generatorX + Self.generatorY))
        #expect(try Secp256k1.publicKey(privateKey: Self.key("2")) == [UInt8](hex:
            "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
            + "1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a"))
        #expect(try Secp256k1.publicKey(privateKey: Self.key("3")) == [UInt8](hex:
            "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
            + "388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e672"))
        // −G has G's x and p − G.y.
        let minusOne = Self.subtract(Self.order, Self.key("1"))
        let p = [UInt8](hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
        #expect(try Secp256k1.publicKey(privateKey: minusOne)
            == [UInt8](hex: Self.generatorX) + Self.subtract(p, [UInt8](hex: Self.generatorY)))
    }

    /// Keys whose addresses are published: key 1, the EIP-155 example key, and the first
    /// account of the Hardhat/Anvil test mnemonic.
    @Test(arguments: [
        ("1", "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"),
        ("4646464646464646464646464646464646464646464646464646464646464646", "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f"),
        ("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
    ])
    func knownKeysHaveTheirPublishedAddresses(privateKey: String, address: String) throws {
        let publicKey = try Secp256k1.publicKey(privateKey: Self.key(privateKey))
        #expect(Hex.encode(Secp256k1.address(publicKey: publicKey)) == address)
    }

    /// Zero, n, anything above n, and keys that are not 32 bytes are refused.
    @Test func invalidPrivateKeysAreRejected() {
        let cases: [([UInt8], String)] = [
            ([UInt8](repeating: 0, count: 32), "private key is zero"),
            (Self.order, "private key is not below the curve order"),
            ([UInt8](repeating: 0xFF, count: 32), "private key is not below the curve order"),
            ([UInt8](repeating: 1, count: 31), "private key is 31 bytes, not 32"),
            ([], "private key is 0 bytes, not 32"),
        ]
        for (key, message) in cases {
            #expect(throws: SignatureError(message)) { try Secp256k1.publicKey(privateKey: key) }
            #expect(throws: SignatureError(message)) { try Secp256k1.sign(messageHash: .zero, privateKey: key) }
        }
    }

    // MARK: Signing

    /// bitcoinjs-lib's RFC 6979 vectors (d, SHA-256 of the message, low-s signature and
    /// recovery id): signing reproduces r and s exactly, and recovery returns d's key.
    @Test(arguments: [
        ("1", "Everything should be made as simple as possible, but not simpler.",
         "33a69cd2065432a30f3d1ce4eb0d59b8ab58c74f27c41a7fdb5696ad4e6108c9",
         "6f807982866f785d3f6418d24163ddae117b7db4d5fdf0071de069fa54342262", UInt8(0)),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
         "Equations are more important to me, because politics is for the present, but an equation is something for eternity.",
         "54c4a33c6423d689378f160a7ff8b61330444abb58fb470f96ea16d99d4a2fed",
         "07082304410efa6b2943111b6a4e0aaa7b7db55a07e9861d1fb3cb1f421044a5", 0),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
         "Not only is the Universe stranger than we think, it is stranger than we can think.",
         "ff466a9f1b7b273e2f4c3ffe032eb2e814121ed18ef84665d0f515360dab3dd0",
         "6fc95f5132e5ecfdc8e5e6e616cc77151455d46ed48f5589b7db7771a332b283", 0),
        ("1", "How wonderful that we have met with a paradox. Now we have some hope of making progress.",
         "c0dafec8251f1d5010289d210232220b03202cba34ec11fec58b3e93a85b91d3",
         "75afdc06b7d6322a590955bf264e7aaa155847f614d80078a90292fe205064d3", 1),
        ("69ec59eaa1f4f2e36b639716b7c30ca86d9a5375c7b38d8918bd9c0ebc80ba64",
         "Computer science is no more about computers than astronomy is about telescopes.",
         "7186363571d65e084e7f02b0b77c3ec44fb1b257dee26274c38c928986fea45d",
         "0de0b38e06807e46bda1f1e293f4f6323e854c86d58abdd00c46c16441085df6", 0),
        ("56916d0f9b31dc9b637f3",
         "The question of whether computers can think is like the question of whether submarines can swim.",
         "cde1302d83f8dd835d89aef803c74a119f561fbaef3eb9129e45f30de86abbf9",
         "06ce643f5049ee1f27890467b77a6a8e11ec4661cc38cd8badf90115fbd03cef", 1),
    ])
    func signaturesMatchPublishedRFC6979Vectors(privateKey: String, message: String, r: String, s: String, recoveryId: UInt8) throws {
        let hash = try #require(Bytes32(SHA256.hash(Array(message.utf8))))
        let signature = try Secp256k1.sign(messageHash: hash, privateKey: Self.key(privateKey))
        #expect(Hex.encode(signature.r, prefix: false) == r)
        #expect(Hex.encode(signature.s, prefix: false) == s)
        #expect(signature.recoveryId == recoveryId)
        let recovered = try Secp256k1.recoverPublicKey(messageHash: hash, r: signature.r, s: signature.s, recoveryId: signature.recoveryId)
        #expect(recovered == (try Secp256k1.publicKey(privateKey: Self.key(privateKey))))
    }

    /// The first RFC 6979 nonce for bitcoinjs-lib's `rfc6979` vectors (their `k0`).
    @Test(arguments: [
        ("fee0a1f7afebf9d2a5a80c0c98a31c709681cce195cbcd06342b517970c0be1e", "test data",
         "fcce1de7a9bcd6b2d3defade6afa1913fb9229e3b7ddf4749b55c4848b2a196e"),
        ("2", "Satoshi Nakamoto", "d3edc1b8224e953f6ee05c8bbf7ae228f461030e47caf97cde91430b4607405e"),
        ("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "Diffie Hellman",
         "c378a41cb17dce12340788dd3503635f54f894c306d52f6e9bc4b8f18d27afcc"),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", "Bitcoin",
         "36c848ffb2cbecc5422c33a994955b807665317c1ce2a0f59c689321aaa631cc"),
    ])
    func rfc6979NoncesMatchPublishedVectors(privateKey: String, message: String, k: String) {
        // These hashes are below n, so they are their own reduction.
        var nonces = RFC6979Nonces(privateKey: Self.key(privateKey), reducedHash: SHA256.hash(Array(message.utf8)))
        #expect(Hex.encode(nonces.next(), prefix: false) == k)
    }

    /// Signing twice gives the same signature; a different message or key gives another.
    @Test func signaturesAreDeterministic() throws {
        let key = Self.key("4646464646464646464646464646464646464646464646464646464646464646")
        let hash = Keccak256.hash(Array("bulwark".utf8))
        let first = try Secp256k1.sign(messageHash: hash, privateKey: key)
        let second = try Secp256k1.sign(messageHash: hash, privateKey: key)
        #expect(first.r == second.r && first.s == second.s && first.recoveryId == second.recoveryId)
        let other = try Secp256k1.sign(messageHash: Keccak256.hash(Array("bulwark!".utf8)), privateKey: key)
        #expect(other.r != first.r)
    }

    // MARK: Recovery

    /// 20 random keys and messages: each signature is low-s with 32-byte r and s, and
    /// recovers the signer's public key.
    @Test func signThenRecoverRoundTrips() throws {
        var random = SplitMix64(seed: 0xB01_3A4C)
        var recoveryIds: Set<UInt8> = []
        for _ in 0..<20 {
            let key = random.bytes(32)
            let hash = try #require(Bytes32(random.bytes(32)))
            let signature = try Secp256k1.sign(messageHash: hash, privateKey: key)
            #expect(signature.r.count == 32 && signature.s.count == 32)
            #expect(signature.s.lexicographicallyPrecedes(Self.halfOrderPlusOne))
            let recovered = try Secp256k1.recoverPublicKey(messageHash: hash, r: signature.r, s: signature.s, recoveryId: signature.recoveryId)
            #expect(recovered == (try Secp256k1.publicKey(privateKey: key)))
            recoveryIds.insert(signature.recoveryId)
        }
        #expect(recoveryIds == [0, 1], "both y parities occur")
    }

    /// A signature with any part changed either fails or recovers somebody else.
    @Test func tamperedSignaturesDoNotRecoverTheSigner() throws {
        let key = Self.key("4646464646464646464646464646464646464646464646464646464646464646")
        let publicKey = try Secp256k1.publicKey(privateKey: key)
        let hash = Keccak256.hash(Array("transfer 1 ether".utf8))
        let signature = try Secp256k1.sign(messageHash: hash, privateKey: key)
        var r = signature.r
        r[31] ^= 0x01
        var s = signature.s
        s[5] ^= 0x10
        let otherHash = Keccak256.hash(Array("transfer 2 ether".utf8))
        let tampered: [(Bytes32, [UInt8], [UInt8], UInt8)] = [
            (hash, signature.r, signature.s, signature.recoveryId ^ 1),
            (hash, r, signature.s, signature.recoveryId),
            (hash, signature.r, s, signature.recoveryId),
            (otherHash, signature.r, signature.s, signature.recoveryId),
        ]
        for (hash, r, s, recoveryId) in tampered {
            let recovered = try? Secp256k1.recoverPublicKey(messageHash: hash, r: r, s: s, recoveryId: recoveryId)
            #expect(recovered != publicKey)
        }
    }

    /// (r, n − s) with the other recovery id is the same signature in its high-s form:
    /// mathematically valid, refused as Ethereum refuses it. Out-of-range values and
    /// recovery ids above 1 are refused too, each with its reason.
    @Test func highSAndOutOfRangeValuesAreRejected() throws {
        let key = Self.key("1")
        let hash = Keccak256.hash(Array("high s".utf8))
        let signature = try Secp256k1.sign(messageHash: hash, privateKey: key)
        let highS = Self.subtract(Self.order, signature.s)
        #expect(throws: SignatureError("s is in the upper half of the curve order (EIP-2 forbids high-s signatures)")) {
            try Secp256k1.recoverPublicKey(messageHash: hash, r: signature.r, s: highS, recoveryId: signature.recoveryId ^ 1)
        }
        let halfOrder = Self.subtract(Self.halfOrderPlusOne, Self.key("1"))
        #expect(throws: Never.self) {  // n/2 itself is the largest s allowed
            try Secp256k1.recoverPublicKey(messageHash: hash, r: signature.r, s: halfOrder, recoveryId: 0)
        }
        let zero = [UInt8](repeating: 0, count: 32)
        let cases: [([UInt8], [UInt8], UInt8, String)] = [
            (zero, signature.s, 0, "r is zero"),
            (Self.order, signature.s, 0, "r is not below the curve order"),
            (signature.r, zero, 0, "s is zero"),
            (signature.r, Self.order, 0, "s is not below the curve order"),
            (signature.r, Self.halfOrderPlusOne, 0, "s is in the upper half of the curve order (EIP-2 forbids high-s signatures)"),
            (signature.r, signature.s, 2, "recovery id 2 is not 0 or 1"),
            ([1] + signature.r, signature.s, 0, "r is 33 bytes, more than 32"),
            // x = 5: 5³ + 7 = 132 is not a square modulo p, so no curve point has that x.
            (Self.key("5"), signature.s, 0, "r is not the x coordinate of a point on secp256k1"),
        ]
        for (r, s, recoveryId, message) in cases {
            #expect(throws: SignatureError(message)) {
                try Secp256k1.recoverPublicKey(messageHash: hash, r: r, s: s, recoveryId: recoveryId)
            }
        }
    }

    /// Minimal-length r and s, as transactions carry them, recover the same key as 32-byte ones.
    @Test func shortRAndSAreLeftPadded() throws {
        let key = Self.key("2")
        let hash = Keccak256.hash(Array("short".utf8))
        let signature = try Secp256k1.sign(messageHash: hash, privateKey: key)
        let shortS = Array(signature.s.drop { $0 == 0 })
        let recovered = try Secp256k1.recoverPublicKey(messageHash: hash, r: Array(signature.r.drop { $0 == 0 }), s: shortS, recoveryId: signature.recoveryId)
        #expect(recovered == (try Secp256k1.publicKey(privateKey: key)))
    }

    // MARK: Hashes behind RFC 6979

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        // 55, 56 and 64 bytes: the padding fits, just misses, and needs a block of its own.
        (String(repeating: "a", count: 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (String(repeating: "a", count: 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (String(repeating: "a", count: 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
    ])
    func sha256MatchesPublishedDigests(message: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(Array(message.utf8)), prefix: false) == digest)
    }

    /// RFC 4231 test cases 2 (short key) and 6 (key longer than a block).
    @Test func hmacSHA256MatchesRFC4231() {
        #expect(Hex.encode(SHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)), prefix: false)
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Hex.encode(SHA256.hmac(key: [UInt8](repeating: 0xAA, count: 131),
                                       message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)), prefix: false)
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    // MARK: Field arithmetic

    /// (a, b, a + b, a − b, a · b) modulo p, computed with Python's integers: values that
    /// exercise every carry and the final reduction (p − 1, 2²⁵⁵, limb boundaries), then random ones.
    @Test(arguments: [
        ("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2d", "0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000001"),
        ("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "0000000000000000000000000000000000000000000000000000000000000002", "0000000000000000000000000000000000000000000000000000000000000001", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2c", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2d"),
        ("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2d", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2c", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "0000000000000000000000000000000000000000000000000000000000000002"),
        ("00000000000000000000000000000000ffffffffffffffffffffffffffffffff", "00000000000000000000000000000000ffffffffffffffffffffffffffffffff", "00000000000000000000000000000001fffffffffffffffffffffffffffffffe", "0000000000000000000000000000000000000000000000000000000000000000", "fffffffffffffffffffffffffffffffe00000000000000000000000000000001"),
        ("0000000000000000000000000000000000000000000000010000000000000000", "0000000000000001000000000000000000000000000000010000000000000001", "0000000000000001000000000000000000000000000000020000000000000001", "fffffffffffffffefffffffffffffffffffffffffffffffffffffffefffffc2e", "00000000000000000000000000000001000000000000000100000001000003d1"),
        ("7fffffffffffffffffffffffffffffffffffffffffffffffffffffff7ffffe17", "7fffffffffffffffffffffffffffffffffffffffffffffffffffffff7ffffe18", "0000000000000000000000000000000000000000000000000000000000000000", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "bfffffffffffffffffffffffffffffffffffffffffffffffffffffff3ffffd23"),
        ("00000000000000000000000000000000000000000000000000000001000003d1", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "00000000000000000000000000000000000000000000000000000001000003d0", "00000000000000000000000000000000000000000000000000000001000003d2", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffdfffff85e"),
        ("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "0000000000000000000000000000000000000000000000000000000000000001", "0000000000000000000000000000000000000000000000000000000000000000", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2d", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e"),
        ("8000000000000000000000000000000000000000000000000000000000000000", "8000000000000000000000000000000000000000000000000000000000000000", "00000000000000000000000000000000000000000000000000000001000003d1", "0000000000000000000000000000000000000000000000000000000000000000", "400000000000000000000000000000000000000000000000400001e84003a334"),
        ("0000000000000000000000000000000000000000000000000000000000000000", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e", "0000000000000000000000000000000000000000000000000000000000000001", "0000000000000000000000000000000000000000000000000000000000000000"),
        ("9ebe2de52517508454c2686dfd49a3031b1436b6677975545dd5073b6a51c7bf", "62ca16a6692e64880183913a1edbae62b210b26fa3b9d506e102498e304fc5ef", "0188448b8e45b50c5645f9a81c255165cd24e9260b334a5b3ed750ca9aa1917f", "3bf4173ebbe8ebfc533ed733de6df4a069038446c3bfa04d7cd2bdad3a0201d0", "06109a794491450b924aef6908ce1d73e06d33250b514a405976ea9fde2ad565"),
        ("91cad90a9d9ded33bd556b678c6c28b64123b775a3aa914e8fdd47dae9d982dd", "7e8d3db28baa34760d86ec35273a5c6ca8d439cdc7395d538bc8ec2685220959", "105816bd294821a9cadc579cb3a68522e9f7f1436ae3eea21ba634026efb9007", "133d9b5811f3b8bdafce7f326531cc49984f7da7dc7133fb04145bb464b77984", "27e59a91d4da376770fc282fad85a08bd566894ee4380b7852058f6f4cc007db"),
        ("61d88b1bec2337a496dc0ebeaaa404735ce98d6f14517692b87a96dfd1d30290", "7b91dbda458a35463e7e8af7f27cbd3665458abcf577b23a654ec83284b197b8", "dd6a66f631ad6cead55a99b69d20c1a9c22f182c09c928cd1dc95f1256849a48", "e646af41a699025e585d83c6b827473cf7a402b21ed9c458532bceac4d216707", "808eafea36859e93b16b8afe4463197584d0364629d7c656e3cee55908b80a1f"),
        ("1a62cd94bf6f67a36966d5afc323016b2c177c1783dbc601238a448c645994a7", "a5e9db28babf51fab73dac4a78c22fe3fbbb76818a85bd1367a806637f4b8516", "c04ca8bd7a2eb99e20a481fa3be5314f27d2f2990e6183148b324aefe3a519bd", "7478f26c04b015a8b22929654a60d187305c0595f95608edbbe23e27e50e0bc0", "2b7311af618ad1b9322740ef888218c8a05e1bc0cae689dd8d0d9a01101e8258"),
        ("fba9d6fb76962aea755b549c402bfba2718c5d72578c247168719dadea74a1cd", "7fe32a1c471ecf1af3881b2fbc50610cc79f7addfceebac4a661f33b16278002", "7b8d0117bdb4fa0568e36fcbfc7c5caf392bd850547adf360ed390ea009c25a0", "7bc6acdf2f775bcf81d3396c83db9a95a9ece2945a9d69acc20faa72d44d21cb", "89f34c1d7c3e9ea63676cf4890357c57eabd6b014321d4841374f7f43e0ad7d3"),
        ("3f9b60c54b50846983b18dd90fb03272f5316a0fb24401785c185d23aa2228ee", "c066bcca945e14e6ff0004943dd16b983eead1cb721ffdb7905bec738d9de01a", "00021d8fdfae995082b1926d4d819e0b341c3bdb2463ff2fec74499837c00cd9", "7f34a3fab6f26f8284b18944d1dec6dab6469844402403c0cbbc70af1c844503", "32094c5a066ef88c2c357bee80490040675e921a9b9e46b08c46279f84b47fba"),
    ])
    func fieldArithmeticMatchesReferenceResults(a: String, b: String, sum: String, difference: String, product: String) throws {
        let x = try #require(FieldElement(bigEndian: [UInt8](hex: a)))
        let y = try #require(FieldElement(bigEndian: [UInt8](hex: b)))
        #expect(Hex.encode((x + y).bytes, prefix: false) == sum)
        #expect(Hex.encode((x - y).bytes, prefix: false) == difference)
        #expect(Hex.encode((x * y).bytes, prefix: false) == product)
        #expect(x * y == y * x)
        if !y.isZero { #expect(x * y * y.inverse == x) }
        let square = x.squared
        let root = try #require(square.squareRoot)
        #expect(root == x || root == -x)
    }

    /// An inverse computed with Python's pow(a, −1, p); p and above are not field elements.
    @Test func fieldInverseAndRange() {
        let a = FieldElement(bigEndian: [UInt8](hex: "8f6b0384361b244d085a9a3848b4f59cce47b516caa5bcbda3be6eabbb1e3022"))
        #expect(a.map { Hex.encode($0.inverse.bytes, prefix: false) } == "5fe388e04792384e920948c238772617ac575f4c7022a3af0a9ba3760092a980")
        #expect(FieldElement(bigEndian: [UInt8](hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")) == nil)
        #expect(FieldElement(bigEndian: [UInt8](repeating: 0xFF, count: 32)) == nil)
        #expect(FieldElement(bigEndian: [UInt8](hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e")) != nil)
    }

    /// Point addition where its formula does not apply: P + P, P + (−P), P + ∞; and
    /// mixed Z coordinates (2G comes out of doubling with Z ≠ 1).
    @Test func pointAdditionCoversItsSpecialCases() throws {
        let g = Secp256k1.generator
        func encoded(_ point: JacobianPoint) throws -> String {
            let affine = try #require(point.affine)
            return Hex.encode(affine.x.bytes + affine.y.bytes, prefix: false)
        }
        let twoG = "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
            + "1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a"
        let threeG = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
            + "388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e672"
        #expect(try encoded(g + g) == twoG)
        #expect(try encoded(g.doubled) == twoG)
        #expect(try encoded(g.doubled + g) == threeG)
        #expect(try encoded(g + g.doubled) == threeG)
        #expect(try encoded(g + .infinity) == Self.generatorX + Self.generatorY)
        #expect(try encoded(.infinity + g) == Self.generatorX + Self.generatorY)
        #expect((g + JacobianPoint(affineX: g.x, y: -g.y)).isInfinity)
        #expect(JacobianPoint.infinity.doubled.isInfinity)
        #expect(g.multiplied(by: Self.order).isInfinity, "n·G = ∞")
        #expect(JacobianPoint.linearCombination(Self.key("1"), g, Self.key("2"), g.doubled).affine.map { $0.x.bytes + $0.y.bytes }
            == (try Secp256k1.publicKey(privateKey: Self.key("5"))), "1·G + 2·(2G) = 5G")
    }

    // MARK: Helpers

    /// n/2 + 1: the smallest s refused as high.
    static let halfOrderPlusOne = [UInt8](hex: "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1")

    /// a − b for 32-byte big-endian values with a ≥ b.
    static func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in (0..<32).reversed() {
            var digit = Int(a[i]) - Int(b[i]) - borrow
            borrow = digit < 0 ? 1 : 0
            if digit < 0 { digit += 256 }
            result[i] = UInt8(digit)
        }
        return result
    }
}

