/// `${NAME}` references in configuration values, replaced from the environment so that
/// keys and tokens stay out of the file. `$${` writes a literal `${`.
///
/// Only values are interpolated, after YAML parsing: a comment that mentions `${NAME}`
/// needs nothing set, and a value from the environment cannot change the YAML structure.
struct EnvironmentInterpolation {
    /// The text with every reference replaced, and the names it referenced.
    struct Result: Equatable {
        var text: String
        var variables: [String]
    }

    enum Problem: Equatable {
        case unset(String)
        case empty(String)
        case malformed

        var message: String {
            switch self {
            case .unset(let name): "environment variable \(name) is not set"
            case .empty(let name): "environment variable \(name) is set but empty"
            case .malformed: "a ${...} reference is not closed or its name is not letters, digits and _ (write $${ for a literal ${)"
            }
        }
    }

    let environment: [String: String]

    /// Replaces the references in `text`; returns the text, the names used, and every problem met.
    func interpolate(_ text: String) -> (result: Result, problems: [Problem]) {
        guard text.contains("$") else { return (Result(text: text, variables: []), []) }
        var out = ""
        var variables: [String] = []
        var problems: [Problem] = []
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let afterDollar = rest[rest.index(after: dollar)...]
            if afterDollar.hasPrefix("${") {
                out += "${"
                rest = afterDollar.dropFirst(2)
            } else if afterDollar.hasPrefix("{") {
                guard let close = afterDollar.firstIndex(of: "}") else {
                    problems.append(.malformed)
                    rest = ""
                    break
                }
                let name = afterDollar[afterDollar.index(after: afterDollar.startIndex)..<close]
                if Self.isVariableName(name) {
                    let name = String(name)
                    variables.append(name)
                    switch environment[name] {
                    case nil: problems.append(.unset(name))
                    case ""?: problems.append(.empty(name))
                    case let value?: out += value
                    }
                } else {
                    problems.append(.malformed)
                }
                rest = afterDollar[afterDollar.index(after: close)...]
            } else {
                out += "$"
                rest = afterDollar
            }
        }
        out += rest
        return (Result(text: out, variables: variables), problems)
    }

    static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
