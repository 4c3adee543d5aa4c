/// A caller's text as messages quote it back: control characters escaped (`\n`, `\t`, `\r`,
/// else `\u{1B}` style, so a name made of them still shows what it was) and cut to
/// `limit` characters with "…" (a 16 MiB name must not come back as a 16 MiB error).
public enum QuotedInput {
    public static let limit = 64

    public static func quote(_ text: String) -> String {
        var out = ""
        var characters = 0
        for scalar in text.unicodeScalars {
            let piece: String
            switch scalar {
            case "\n": piece = "\\n"
            case "\t": piece = "\\t"
            case "\r": piece = "\\r"
            case "\\": piece = "\\\\"
            default:
                let v = scalar.value
                let control = v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029
                piece = control ? "\\u{\(String(v, radix: 16, uppercase: true))}" : String(scalar)
            }
            if characters + piece.count > limit { return out + "…" }
            out += piece
            characters += piece.count
        }
        return out
    }
}
