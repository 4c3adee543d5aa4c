/// A size for people, in binary units, as every size this project prints (files, downloads,
/// memory): 10436564084 → "9.72 GiB".
public func humanBytes(_ n: Int) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(n)
    var unit = 0
    while value.magnitude >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(n) bytes" }
    let hundredths = (value * 100).rounded()
    let whole = Int(hundredths / 100)
    let frac = Int(hundredths.truncatingRemainder(dividingBy: 100).magnitude)
    return "\(whole).\(frac < 10 ? "0" : "")\(frac) \(units[unit])"
}
