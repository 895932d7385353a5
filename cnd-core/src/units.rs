//! How numbers are shown to people: durations, probabilities, hash rates and counts. One
//! formatter each, shared by the progress line, the reports, the planner and the benches.

use std::fmt;

/// Seconds shown as a human duration (`1m 40s`, `8.5s`) in messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanSeconds(pub f64);

impl fmt::Display for HumanSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if !s.is_finite() {
            return f.write_str("never");
        }
        if s == 0.0 {
            return f.write_str("0 s");
        }
        if s < 1.0 {
            return write!(f, "{:.0} ms", s * 1e3);
        }
        if s < 60.0 {
            return write!(f, "{s:.1} s");
        }
        let total = s.round() as u64;
        let (d, h, m, sec) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
        if d > 365 * 1000 {
            return write!(f, "{:.2e} years", s / (365.25 * 86_400.0));
        }
        // The largest units, without trailing zero parts: `10m`, `1m 32s`, `2h 5m`, `3d 4h`.
        let parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")];
        let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
        let shown = &parts[first..(first + 3).min(4)];
        let last = shown.iter().rposition(|(v, _)| *v > 0).unwrap_or(0);
        let text: Vec<String> = shown[..=last].iter().map(|(v, u)| format!("{v}{u}")).collect();
        f.write_str(&text.join(" "))
    }
}

/// A probability as a percentage with enough digits to be honest about small ones.
pub fn percent(p: f64) -> String {
    let pct = 100.0 * p;
    if pct == 0.0 {
        "0%".into()
    } else if pct < 0.01 {
        format!("{pct:.2e}%")
    } else if pct > 99.99 && pct < 100.0 {
        // Never round a probability below 1 up to 100%.
        let miss = 100.0 - pct;
        format!("{:.prec$}%", pct, prec = (-miss.log10()).ceil().clamp(2.0, 12.0) as usize)
    } else {
        format!("{pct:.2}%")
    }
}

/// A hash rate with a unit: `211.0 kH/s`, `33.52 MH/s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashRate(pub f64);

impl fmt::Display for HashRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        if r >= 1e9 {
            write!(f, "{:.2} GH/s", r / 1e9)
        } else if r >= 1e6 {
            write!(f, "{:.2} MH/s", r / 1e6)
        } else if r >= 1e3 {
            write!(f, "{:.1} kH/s", r / 1e3)
        } else {
            write!(f, "{r:.0} H/s")
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_group() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(100), "100");
    }

    #[test]
    fn rates_have_units() {
        assert_eq!(HashRate(211_000.0).to_string(), "211.0 kH/s");
        assert_eq!(HashRate(33_520_000.0).to_string(), "33.52 MH/s");
        assert_eq!(HashRate(2.5e9).to_string(), "2.50 GH/s");
        assert_eq!(HashRate(12.0).to_string(), "12 H/s");
    }
}
