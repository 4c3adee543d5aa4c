/// How DDIM picks its timesteps from the training schedule (the reference's `timestep_spacing`).
public enum DDIMTimestepSpacing: String, Sendable, Hashable, CaseIterable {
    /// `c = T // S`; timesteps `0, c, 2c, … (< T)` plus one. Yields more than S timesteps when T
    /// is not a multiple of S (S = 7 of 1000 gives 8: 1, 143, …, 995). DynamiCrafter 256.
    case uniform
    /// `c = T / S` (real); `round(arange(T, 0, −c))` (half to even), ascending, minus one, so the
    /// last timestep is T − 1 (S = 5: 199, 399, 599, 799, 999). DynamiCrafter 512 / 1024.
    case uniformTrailing = "uniform_trailing"
}
