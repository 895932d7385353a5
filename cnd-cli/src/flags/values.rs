//! Value parsers of the flags: each turns one flag's text into a typed value or an error
//! that says what is allowed (clap prefixes the flag's name).

use std::time::Duration;

/// `--workers`: a count, or `auto` (planned from --deadline and --confidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// A fixed count, at least 1.
    Count(u32),
    /// Planned from --deadline and --confidence.
    Auto,
}

/// Parses `--workers`: 1 or more, or `auto`.
pub fn parse_workers(text: &str) -> Result<Workers, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(Workers::Auto);
    }
    match t.parse::<u32>() {
        Ok(0) => Err("0 is not allowed (allowed: 1 or more, or auto)".into()),
        Ok(n) => Ok(Workers::Count(n)),
        Err(_) => Err(format!("'{t}' is not a count (allowed: 1 or more, or auto)")),
    }
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, or plain seconds (`90`, `2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("'{t}' is negative (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("'{t}' is not a duration (allowed: e.g. 30s, 5m, 1h)")),
        Err(_) => humantime::parse_duration(t).map_err(|e| format!("'{t}': {e} (allowed: e.g. 30s, 5m, 1h)"))?,
    };
    if d.is_zero() {
        return Err(format!("'{t}' is zero (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    Ok(d)
}

/// Parses `--startup`: a duration that may be zero.
pub fn parse_startup(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.parse::<f64>() == Ok(0.0) || t == "0s" || t == "0ms" {
        return Ok(Duration::ZERO);
    }
    parse_duration(t)
}

/// Parses `--confidence`: a probability strictly between 0 and 1.
pub fn parse_confidence(text: &str) -> Result<f64, String> {
    let allowed = "(allowed: a probability strictly between 0 and 1, e.g. 0.95)";
    match text.trim().parse::<f64>() {
        Ok(c) if c > 0.0 && c < 1.0 => Ok(c),
        Ok(c) => Err(format!("{c} is out of range {allowed}")),
        Err(_) => Err(format!("'{text}' is not a number {allowed}")),
    }
}

/// Parses `--rate`: a positive number of hashes per second, with an optional k/M/G suffix.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let allowed = "(allowed: a positive hash rate per worker such as 211000, 250k, 3.5M)";
    let t = text.trim().trim_end_matches("H/s").trim_end_matches("/s").trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'M')) => (&t[..i], 1e6),
        Some((i, 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r * scale),
        Ok(_) => Err(format!("'{text}' is not positive {allowed}")),
        Err(_) => Err(format!("'{text}' is not a rate {allowed}")),
    }
}

/// Parses CPUs per worker: `2`, `1.5` or Kubernetes' `1500m`.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(format!("'{text}' is not a CPU count (allowed: a positive number such as 1, 2, 1500m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("-3s").unwrap_err().contains("negative"));
        assert!(parse_duration("0").unwrap_err().contains("zero"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn workers() {
        assert_eq!(parse_workers("4"), Ok(Workers::Count(4)));
        assert_eq!(parse_workers("auto"), Ok(Workers::Auto));
        assert!(parse_workers("0").is_err());
        assert!(parse_workers("x").is_err());
    }

    #[test]
    fn confidence_is_a_probability() {
        assert_eq!(parse_confidence("0.95"), Ok(0.95));
        for bad in ["1.5", "1", "0", "-0.2", "nan", "x"] {
            assert!(parse_confidence(bad).unwrap_err().contains("allowed"), "{bad}");
        }
    }

    #[test]
    fn rates_take_suffixes() {
        assert_eq!(parse_rate("211000"), Ok(211_000.0));
        assert_eq!(parse_rate("250k"), Ok(250_000.0));
        assert_eq!(parse_rate("3.5M"), Ok(3_500_000.0));
        assert_eq!(parse_rate("1G"), Ok(1e9));
        for bad in ["0", "-5", "inf", "fast", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn startup_may_be_zero_but_not_negative() {
        assert_eq!(parse_startup("0"), Ok(Duration::ZERO));
        assert_eq!(parse_startup("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_startup("8s"), Ok(Duration::from_secs(8)));
        assert!(parse_startup("-1s").is_err());
    }

    #[test]
    fn cpus_read_kubernetes_quantities() {
        assert_eq!(parse_cpus("2"), Ok(2.0));
        assert_eq!(parse_cpus("1500m"), Ok(1.5));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("two").is_err());
    }
}
