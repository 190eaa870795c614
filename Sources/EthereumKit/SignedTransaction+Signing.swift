import BigInt

extension SignedTransaction {
    /// The hash the sender signed. Legacy: keccak256(rlp([nonce, gasPrice, gas, to, value,
    /// input])), with [chainId, 0, 0] appended under EIP-155; typed: keccak256(type ‖
    /// rlp(fields without the signature)).
    public var signingHash: Bytes32 {
        var fields = unsignedFields
        if kind == .legacy, let chainId {
            fields += [.uint(chainId), .bytes([]), .bytes([])]
        }
        return Keccak256.hash(envelope(RLP.encode(.list(fields))))
    }

    /// The network encoding of the current field values. Equal to `raw` for a decoded
    /// transaction; differs once a field has been changed (how tests and the simulator
    /// build tampered traffic). Legacy encodings leave out `accessList`.
    public func encoded() -> [UInt8] {
        envelope(RLP.encode(.list(unsignedFields + [.bytes(v), .bytes(r), .bytes(s)])))
    }

    /// The fields that precede the signature, in the order of `kind`.
    private var unsignedFields: [RLPItem] {
        var fields: [RLPItem] = []
        if kind != .legacy { fields.append(.uint(chainId ?? 0)) }
        fields.append(.uint(nonce))
        if kind == .dynamicFee {
            fields += [.bytes(maxPriorityFeePerGas), .bytes(maxFeePerGas)]
        } else {
            fields.append(.bytes(gasPrice))
        }
        fields += [.uint(gas), .bytes(to ?? []), .bytes(value), .bytes(input)]
        if kind != .legacy {
            fields.append(.list(accessList.map { entry in
                .list([.bytes(entry.address), .list(entry.storageKeys.map { .bytes($0) })])
            }))
        }
        return fields
    }

    /// A typed payload behind its type byte; a legacy one as is.
    private func envelope(_ payload: [UInt8]) -> [UInt8] {
        kind == .legacy ? payload : [kind.rawValue] + payload
    }

    /// Builds and signs a transaction, for tests and the simulator's traffic, and returns
    /// it as a node would decode it (`raw` is the network encoding).
    ///
    /// Legacy transactions are signed with EIP-155 replay protection. Fees follow the
    /// kind: `gasPrice` for legacy and type 1, `maxPriorityFeePerGas` and `maxFeePerGas`
    /// for type 2; passing the other kind's fee is an error rather than silently ignored,
    /// as is an access list on a legacy transaction. Amounts are big-endian (leading zeros
    /// are dropped) and at most 256 bits; `to` (nil creates a contract), access-list
    /// addresses and keys must have 20, 20 and 32 bytes.
    public static func signed(
        kind: Kind,
        chainId: UInt64,
        nonce: UInt64,
        gasPrice: [UInt8] = [],
        maxPriorityFeePerGas: [UInt8] = [],
        maxFeePerGas: [UInt8] = [],
        gas: UInt64,
        to: [UInt8]?,
        value: [UInt8],
        input: [UInt8] = [],
        accessList: [AccessListEntry] = [],
        privateKey: [UInt8]
    ) throws(SignatureError) -> SignedTransaction {
        let gasPrice = try quantity(gasPrice, "gasPrice")
        let maxPriorityFeePerGas = try quantity(maxPriorityFeePerGas, "maxPriorityFeePerGas")
        let maxFeePerGas = try quantity(maxFeePerGas, "maxFeePerGas")
        if kind == .dynamicFee {
            guard gasPrice.isEmpty else { throw SignatureError("a type 2 transaction takes maxPriorityFeePerGas and maxFeePerGas, not gasPrice") }
        } else {
            guard maxPriorityFeePerGas.isEmpty, maxFeePerGas.isEmpty else {
                throw SignatureError("a \(kind.name) takes gasPrice, not maxPriorityFeePerGas or maxFeePerGas")
            }
        }
        guard kind != .legacy || accessList.isEmpty else { throw SignatureError("a legacy transaction has no access list") }
        if let to, to.count != 20 { throw SignatureError("to is \(to.count) bytes, expected 20") }
        for (i, entry) in accessList.enumerated() {
            guard entry.address.count == 20 else { throw SignatureError("accessList[\(i)].address is not 20 bytes") }
            guard entry.storageKeys.allSatisfy({ $0.count == 32 }) else {
                throw SignatureError("accessList[\(i)] has a storage key that is not 32 bytes")
            }
        }
        let fee = kind == .dynamicFee ? maxFeePerGas : gasPrice
        var transaction = SignedTransaction(
            kind: kind, chainId: chainId, nonce: nonce, gasPrice: fee,
            maxPriorityFeePerGas: kind == .dynamicFee ? maxPriorityFeePerGas : fee, maxFeePerGas: fee,
            gas: gas, to: to, value: try quantity(value, "value"), input: input, accessList: accessList,
            v: [], r: [], s: [], raw: [])

        let signature = try Secp256k1.sign(messageHash: transaction.signingHash, privateKey: privateKey)
        transaction.r = minimal(signature.r)
        transaction.s = minimal(signature.s)
        if kind == .legacy {
            let v = BigUInt(chainId) * 2 + 35 + BigUInt(signature.recoveryId)
            transaction.v = minimal(Secp256k1.bytes32(v))
        } else {
            transaction.v = signature.recoveryId == 0 ? [] : [1]
        }
        // Decode what was built, so the caller gets exactly what a node would see.
        do {
            return try SignedTransaction(raw: transaction.encoded())
        } catch {
            throw SignatureError("internal error: the signed transaction does not decode: \(error)")
        }
    }

    /// `bytes` as a minimal big-endian amount of at most 256 bits.
    private static func quantity(_ bytes: [UInt8], _ name: String) throws(SignatureError) -> [UInt8] {
        let value = minimal(bytes)
        guard value.count <= 32 else { throw SignatureError("\(name) is more than 256 bits") }
        return value
    }

    private static func minimal(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.drop { $0 == 0 })
    }
}
