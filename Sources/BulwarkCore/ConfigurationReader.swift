import Yams

/// Walks a composed YAML document and reads typed values out of it, collecting every
/// problem with its YAML path instead of stopping at the first.
///
/// Each reader returns nil after reporting a problem, so callers keep the default and
/// go on; the configuration is only handed out when no problem was reported.
struct ConfigurationReader {
    let interpolation: EnvironmentInterpolation
    private(set) var errors: [ConfigurationError] = []

    init(environment: [String: String]) {
        interpolation = EnvironmentInterpolation(environment: environment)
    }

    mutating func report(_ path: String, _ message: String) {
        errors.append(ConfigurationError(path: path, message: message))
    }

    /// A scalar's text after `${VAR}` interpolation, and the variables it came from.
    struct Value {
        var text: String
        var variables: [String]

        /// How an error message may quote the value: literally when it was written in the
        /// file, by variable name when it came from the environment (which may be secret).
        var shown: String {
            variables.isEmpty ? "'\(text)'" : "the value of " + variables.map { "${\($0)}" }.joined(separator: ", ")
        }
    }

    /// The entries of a mapping whose keys were checked against the known ones.
    /// Keys with a null value (`key:` or `key: ~`) count as absent.
    struct Fields {
        let path: String
        let entries: [String: Node]

        subscript(key: String) -> Node? { entries[key] }

        func path(_ key: String) -> String { ConfigurationReader.join(path, key) }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar, .alias: "a single value"
        }
    }

    // MARK: Structure

    /// The mapping at `path`; reports keys outside `known` (with a suggestion when one is close).
    mutating func fields(_ node: Node, at path: String, known: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            report(path, "expected a mapping (with keys \(known.joined(separator: ", "))), got \(Self.kind(of: node))")
            return nil
        }
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let key = keyNode.scalar?.string ?? "?"
            guard known.contains(key) else {
                var message = "unknown key (known keys here: \(known.joined(separator: ", ")))"
                if let suggestion = Self.closest(to: key, in: known) { message = "unknown key; did you mean '\(suggestion)'? (known keys here: \(known.joined(separator: ", ")))" }
                report(Self.join(path, key), message)
                continue
            }
            if !Self.isNull(value) { entries[key] = value }
        }
        return Fields(path: path, entries: entries)
    }

    /// The items of the list at `path`.
    mutating func list(_ node: Node, at path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(path, "expected a list, got \(Self.kind(of: node))")
            return nil
        }
        return Array(sequence)
    }

    /// The text of the scalar at `path`, interpolated; `expected` says what should be there.
    mutating func value(_ node: Node, at path: String, expected: String = "a single value") -> Value? {
        guard case .scalar(let scalar) = node else {
            report(path, "expected \(expected), got \(Self.kind(of: node))")
            return nil
        }
        let (result, problems) = interpolation.interpolate(scalar.string)
        for problem in problems { report(path, problem.message) }
        guard problems.isEmpty else { return nil }
        return Value(text: result.text, variables: result.variables)
    }

    /// A required value: reports `missing` when absent.
    mutating func required(_ fields: Fields, _ key: String, expected: String = "a single value") -> Value? {
        guard let node = fields[key] else {
            report(fields.path(key), "missing")
            return nil
        }
        return value(node, at: fields.path(key), expected: expected)
    }

    // MARK: Typed values

    /// A whole number of at least `minimum`; `0x` hex is accepted where `hex` is set (chain ids).
    mutating func integer(_ node: Node, at path: String, minimum: Int, hex: Bool = false) -> Int? {
        guard let value = value(node, at: path, expected: "a whole number") else { return nil }
        let digits = value.text.filter { $0 != "_" }
        let number: Int?
        if hex, digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            number = Int(digits.dropFirst(2), radix: 16)
        } else {
            number = Int(digits)
        }
        guard let number else {
            report(path, "expected a whole number, got \(value.shown)")
            return nil
        }
        guard number >= minimum else {
            report(path, minimum == 1 ? "must be positive, got \(number)" : "must be at least \(minimum), got \(number)")
            return nil
        }
        return number
    }

    /// A finite number of at least `minimum` (above zero when `minimum` is nil).
    mutating func number(_ node: Node, at path: String, minimum: Double? = nil) -> Double? {
        guard let value = value(node, at: path, expected: "a number") else { return nil }
        guard let number = Double(value.text.filter { $0 != "_" }), number.isFinite else {
            report(path, "expected a number, got \(value.shown)")
            return nil
        }
        if let minimum {
            guard number >= minimum else {
                report(path, "must be at least \(Self.format(minimum)), got \(Self.format(number))")
                return nil
            }
        } else {
            guard number > 0 else {
                report(path, "must be positive, got \(Self.format(number))")
                return nil
            }
        }
        return number
    }

    mutating func boolean(_ node: Node, at path: String) -> Bool? {
        guard let value = value(node, at: path, expected: "true or false") else { return nil }
        guard let boolean = Self.boolean(value.text) else {
            report(path, "expected true or false, got \(value.shown)")
            return nil
        }
        return boolean
    }

    /// YAML's spellings of true and false (not `yes`/`no`, which YAML 1.2 reads as strings).
    static func boolean(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// A positive duration: `500ms`, `10s`, `5m`, `1h`, `1m30s`.
    mutating func duration(_ node: Node, at path: String) -> Duration? {
        guard let value = value(node, at: path, expected: "a duration") else { return nil }
        guard let duration = ConfigurationDuration.parse(value.text) else {
            report(path, "expected a duration with a unit (ms, s, m or h), e.g. 500ms, 10s, 5m; got \(value.shown)")
            return nil
        }
        guard duration > .zero else {
            report(path, "must be longer than zero")
            return nil
        }
        return duration
    }

    /// One of an enumeration's raw values; `what` names the setting in the message.
    mutating func choice<Choice: RawRepresentable<String> & CaseIterable>(_ node: Node, at path: String, what: String) -> Choice? {
        guard let value = value(node, at: path, expected: "one of \(Self.options(Choice.self))") else { return nil }
        guard let choice = Choice(rawValue: value.text) else {
            report(path, "unknown \(what) \(value.shown) (expected \(Self.options(Choice.self)))")
            return nil
        }
        return choice
    }

    // MARK: Wording

    static func options<Choice: RawRepresentable<String> & CaseIterable>(_: Choice.Type) -> String {
        let names = Choice.allCases.map(\.rawValue)
        guard names.count > 1 else { return names.joined() }
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// `200` rather than `200.0`.
    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
    }

    /// The known key a misspelt one most likely meant: same letters in another case, or at most two edits away.
    static func closest(to key: String, in known: [String]) -> String? {
        if let match = known.first(where: { $0.lowercased() == key.lowercased() }) { return match }
        let scored = known.map { ($0, editDistance(Array($0.lowercased()), Array(key.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < key.count else { return nil }
        return best.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// A YAML syntax error as one line: where it is and what is wrong, without quoting
    /// the line itself (it may hold a key).
    static func syntaxMessage(_ error: any Error, yaml: String) -> String {
        guard let error = error as? YamlError else { return "not valid YAML" }
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            var message = "not valid YAML: line \(mark.line), column \(mark.column): \(problem)"
            // `{ key: ${VAR} }`: braces end a plain value inside { } and [ ], a common slip.
            let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
            if (1...lines.count).contains(mark.line), lines[mark.line - 1].contains("${"),
               lines[mark.line - 1].contains("{ ") || lines[mark.line - 1].contains("[") {
                message += " (inside { } or [ ], quote values that use ${...}: \"${VAR}\")"
            }
            return message
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return "not valid YAML: line \(context.mark.line): \(keys) appears more than once in the same mapping"
        case .reader(let problem, _, _, _):
            return "not valid YAML: \(problem)"
        default:
            return "not valid YAML"
        }
    }
}
