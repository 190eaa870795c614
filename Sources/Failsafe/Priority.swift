/// Who is shed last when upstream capacity is short (SPEC section 2, `auth.keys[].priority`).
public enum Priority: String, Sendable, CaseIterable, Comparable {
    /// Shed last: withdrawals, liquidations, anything that must not wait.
    case critical
    case normal
    /// Shed first: backfills, analytics.
    case bulk

    /// `critical < normal < bulk`: sorting puts the most important first.
    public static func < (lhs: Priority, rhs: Priority) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .critical: 0
        case .normal: 1
        case .bulk: 2
        }
    }
}
