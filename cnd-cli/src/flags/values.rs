//! Value parsers of the flags: each turns one flag's text into a typed value or an error
//! that says what is allowed (clap prefixes the flag's name).

use std::time::Duration;

use cnd_core::RunSpec;

/// `--workers`: a count, or `auto` (planned from --deadline and --confidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// A fixed count, at least 1.
    Count(u32),
    /// Planned from --deadline and --confidence.
    Auto,
}

/// Parses `--workers`: 1 or more, or `auto`. The bound of each backend (threads, processes,
/// pods) is checked by [`check_workers`] once the backend is known.
pub fn parse_workers(text: &str) -> Result<Workers, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(Workers::Auto);
    }
    let allowed = format!("(allowed: 1..={}, fewer for threads and processes, or auto)", RunSpec::MAX_WORKERS);
    match t.parse::<i128>() {
        Ok(n) if n < 1 => Err(format!("{n} is not allowed {allowed}")),
        Ok(n) => u32::try_from(n).map(Workers::Count).map_err(|_| format!("{n} is out of range {allowed}")),
        Err(_) => Err(format!("'{t}' is not a count {allowed}")),
    }
}

/// `--chunks`: how many partitions a Kubernetes run's range is cut into (the Job's
/// completions), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunks {
    /// A fixed count, 1..=100000.
    Count(u32),
    /// Chunks of about a minute on one pod at the planned rate.
    Auto,
}

/// Parses `--chunks`: 1..=100000 (an Indexed Job's completions), or `auto`.
pub fn parse_chunks(text: &str) -> Result<Chunks, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(Chunks::Auto);
    }
    let allowed = format!("(allowed: 1..={}, or auto)", RunSpec::MAX_WORKERS);
    match t.parse::<i128>() {
        Ok(n) if (1..=i128::from(RunSpec::MAX_WORKERS)).contains(&n) => Ok(Chunks::Count(n as u32)),
        Ok(n) => Err(format!("{n} is out of range {allowed}")),
        Err(_) => Err(format!("'{t}' is not a count {allowed}")),
    }
}

/// The bound of `--workers` on each backend, in one line naming the flag and the limit:
/// threads (`local`) at most [`cnd_local::max_threads`], processes (`process`) at most
/// [`ProcessDispatcher::max_workers`](cnd_local::ProcessDispatcher::max_workers), pods
/// (`k8s`) at most [`RunSpec::MAX_WORKERS`], the Indexed Job limit.
pub fn check_workers(backend: &str, workers: u32) -> Result<(), String> {
    let cpus = cnd_local::available_threads();
    let (unit, max, why) = match backend {
        "local" => ("threads", cnd_local::max_threads(), format!(" on this machine's {cpus} CPUs")),
        "process" => {
            ("processes", cnd_local::ProcessDispatcher::max_workers(), format!(" on this machine's {cpus} CPUs"))
        }
        _ => ("pods", RunSpec::MAX_WORKERS, ", the Indexed Job limit".to_string()),
    };
    if workers == 0 || workers > max {
        return Err(format!(
            "--workers: {workers} {unit} is out of range (allowed with --backend {backend}: 1..={max}{why})"
        ));
    }
    Ok(())
}

/// The longest duration any flag takes: a year. Longer is a typo (`1e20`), and would
/// overflow the clocks and the Kubernetes fields it is written to.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a duration such as `30s`, `5m`, `1h30m`, or plain seconds (`90`, `2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("'{t}' is negative (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    let too_long = || format!("'{t}' is more than a year (allowed: a positive duration up to 365d)");
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > MAX_DURATION.as_secs_f64() => return Err(too_long()),
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("'{t}' is not a duration (allowed: e.g. 30s, 5m, 1h)")),
        Err(_) => humantime::parse_duration(t).map_err(|e| format!("'{t}': {e} (allowed: e.g. 30s, 5m, 1h)"))?,
    };
    if d.is_zero() {
        return Err(format!("'{t}' is zero (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    if d > MAX_DURATION {
        return Err(too_long());
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

/// The highest `--rate` (hashes per second of one worker): 10^15, a thousand times a GPU.
const MAX_RATE: f64 = 1e15;

/// Parses `--rate`: a positive number of hashes per second, with an optional k/M/G suffix.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let allowed = "(allowed: a positive hash rate per worker up to 1e15, such as 211000, 250k, 3.5M)";
    let t = text.trim().trim_end_matches("H/s").trim_end_matches("/s").trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'M')) => (&t[..i], 1e6),
        Some((i, 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r * scale > MAX_RATE => Err(format!("'{text}' is out of range {allowed}")),
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
        Ok(c) if c.is_finite() && c > 0.0 && c <= MAX_CPUS => Ok(c),
        _ => Err(format!("'{text}' is not a CPU count (allowed: a positive number up to 1024, such as 1, 2, 1500m)")),
    }
}

/// The most CPUs of one worker: more than the largest machines have.
const MAX_CPUS: f64 = 1024.0;

/// Parses `-d/--difficulty`: leading zero bits, 0..=256 (a negative or huge value is named,
/// not mistaken for a flag).
pub fn parse_difficulty(text: &str) -> Result<u32, String> {
    let allowed = "(allowed: 0..=256 leading zero bits)";
    match text.trim().parse::<i128>() {
        Ok(d) if (0..=256).contains(&d) => Ok(d as u32),
        Ok(d) => Err(format!("{d} is out of range {allowed}")),
        Err(_) => Err(format!("'{text}' is not a whole number {allowed}")),
    }
}

/// Parses a nonce (`--start`, `--end`, `--nonce`): 0..=2^64-1.
pub fn parse_nonce(text: &str) -> Result<u64, String> {
    let allowed = format!("(allowed: 0..={})", u64::MAX);
    match text.trim().parse::<i128>() {
        Ok(n) => u64::try_from(n).map_err(|_| format!("{n} is out of range {allowed}")),
        Err(_) => Err(format!("'{text}' is not a whole number {allowed}")),
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

    /// 1e20 seconds used to panic converting to a Duration (exit 101).
    #[test]
    fn durations_are_at_most_a_year() {
        assert_eq!(parse_duration("365d").unwrap(), MAX_DURATION);
        assert_eq!(parse_duration("31536000").unwrap(), MAX_DURATION);
        for bad in ["1e20", "31536001", "366d", "100000000y", "1e308", "inf", "nan", "-1e20"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("allowed"), "{bad}: {e}");
        }
        assert!(parse_duration("1e20").unwrap_err().contains("up to 365d"));
        assert!(parse_duration("366d").unwrap_err().contains("up to 365d"));
        assert!(parse_startup("1e20").unwrap_err().contains("up to 365d"));
    }

    #[test]
    fn difficulty_is_0_to_256() {
        assert_eq!(parse_difficulty("0"), Ok(0));
        assert_eq!(parse_difficulty("256"), Ok(256));
        for bad in ["-1", "257", "4294967296", "99999999999999999999999", "1.5", "nan", ""] {
            assert!(parse_difficulty(bad).unwrap_err().contains("allowed: 0..=256"), "{bad}");
        }
    }

    #[test]
    fn nonces_are_u64() {
        assert_eq!(parse_nonce("0"), Ok(0));
        assert_eq!(parse_nonce("18446744073709551615"), Ok(u64::MAX));
        for bad in ["-1", "18446744073709551616", "1e3", "x"] {
            assert!(parse_nonce(bad).unwrap_err().contains("allowed: 0..=18446744073709551615"), "{bad}");
        }
    }

    #[test]
    fn each_backend_bounds_its_workers() {
        let (threads, processes) = (cnd_local::max_threads(), cnd_local::ProcessDispatcher::max_workers());
        assert!(check_workers("local", threads).is_ok());
        let e = check_workers("local", threads + 1).unwrap_err();
        assert!(
            e.starts_with("--workers: ") && e.contains(&format!("allowed with --backend local: 1..={threads}")),
            "{e}"
        );
        assert!(check_workers("local", 100_000_000).is_err());
        assert!(check_workers("process", processes).is_ok());
        let e = check_workers("process", processes + 1).unwrap_err();
        assert!(e.contains(&format!("allowed with --backend process: 1..={processes}")), "{e}");
        assert!(check_workers("process", 4_000_000_000).is_err());
        assert!(check_workers("k8s", 100_000).is_ok());
        let e = check_workers("k8s", 100_001).unwrap_err();
        assert!(e.contains("allowed with --backend k8s: 1..=100000, the Indexed Job limit"), "{e}");
    }

    #[test]
    fn workers() {
        assert_eq!(parse_workers("4"), Ok(Workers::Count(4)));
        assert_eq!(parse_workers("auto"), Ok(Workers::Auto));
        assert_eq!(parse_workers("4000000000"), Ok(Workers::Count(4_000_000_000)));
        for bad in ["0", "-1", "x", "4294967296", "1e9"] {
            assert!(parse_workers(bad).unwrap_err().contains("allowed: 1..=100000"), "{bad}");
        }
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
        for bad in ["0", "-5", "inf", "fast", "", "nan", "1e308G", "2e15"] {
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
        assert_eq!(parse_cpus("1024"), Ok(1024.0));
        for bad in ["0", "-1", "1025", "1e300", "nan", "inf", "-500m"] {
            assert!(parse_cpus(bad).unwrap_err().contains("up to 1024"), "{bad}");
        }
        assert!(parse_cpus("two").is_err());
    }
}
