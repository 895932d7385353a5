//! How [`Kernel::best`] chooses: by measurement on this CPU, not by a fixed order.
//!
//! The single-thread rate of every kernel this CPU runs (text and Bitcoin, nonces per CPU
//! second, measured as [`super::measure`] measures) is recorded once per CPU model and binary
//! in a small JSON file, `$XDG_CACHE_HOME/cnd/kernels.json` (or `~/.cache/cnd/kernels.json`),
//! by `cnd bench --calibrate` or, on first use without one, by a probe of about 200 ms on
//! the calling thread. The fastest recorded kernel wins (by the geometric mean of its text and
//! Bitcoin rates; [`Kernel::best_for`] picks per format). Where the file cannot be read or
//! written (a read-only root filesystem, a `FROM scratch` pod with no `HOME`) the probe's
//! result is kept in this process only and the run goes on. With one kernel besides
//! `portable` or none, there is nothing to measure: it is chosen without a probe. If the probe
//! measures nothing, the static order ([`Kernel::ALL`]) decides.
//!
//! A worker whose choice would need a probe (a pod: read-only root, nothing cached) lets the
//! probe hash its own range instead ([`choose_by_search`]): the nonces measured are nonces
//! searched, so the probe costs the run only the slower kernels' share of those 200 ms. Its
//! rates are of the run's format alone and are not cached.
//!
//! The record's key: the CPU (vendor and brand string from `cpuid`, family, model, stepping,
//! and the kernels available, which a hypervisor can change under the same brand) and the
//! binary (the crate version plus the executable's size and modification time, so that a
//! rebuild or an upgrade measures again). Size and mtime, not a hash of the executable: they
//! cost one `stat`, where hashing the ≈ 30 MB binary would cost about as much as the probe it
//! saves. A record for another key is ignored (and kept: the file holds the last few keys, so
//! a debug and a release build on one machine do not evict each other).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Kernel;
use super::measure::{measure_problem, measure_range, sample};
use crate::problem::Format;

/// The probe's total duration, over every kernel and both formats.
pub const PROBE_BUDGET: Duration = Duration::from_millis(200);

/// Rounds of the probe: each kernel and format is measured this many times, interleaved,
/// and the highest rate is kept (an interruption can only lower a rate).
const PROBE_ROUNDS: u32 = 2;

/// Records kept in the cache file (one per CPU and binary).
const KEEP_RECORDS: usize = 8;

/// The cache file's name in the cache directory.
const CACHE_FILE: &str = "kernels.json";

/// One kernel's single-thread rates, nonces per CPU second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRate {
    /// The kernel's name.
    pub kernel: String,
    /// Text format (default block, 10-digit nonces).
    pub text: f64,
    /// Bitcoin format (genesis header).
    pub bitcoin: f64,
}

impl KernelRate {
    /// The rate for `format`, or the geometric mean of both formats.
    pub fn rate(&self, format: Option<Format>) -> f64 {
        match format {
            Some(Format::Text) => self.text,
            Some(Format::Bitcoin) => self.bitcoin,
            None => (self.text * self.bitcoin).sqrt(),
        }
    }

    fn is_valid(&self) -> bool {
        [self.text, self.bitcoin].iter().all(|r| r.is_finite() && *r > 0.0)
    }
}

/// Which machine and binary a record was measured for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The CPU model and the kernels it runs.
    pub cpu: String,
    /// The binary's version and build.
    pub binary: String,
}

impl CacheKey {
    /// This CPU and this executable.
    pub fn here() -> Self {
        let kernels = Kernel::available().iter().map(|k| k.name()).collect::<Vec<_>>().join(" ");
        let binary = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| {
                let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let mtime = mtime.map_or("?".to_string(), |d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
                format!("{} bytes, mtime {mtime}", m.len())
            })
            .unwrap_or_else(|e| format!("executable unknown ({e})"));
        CacheKey {
            cpu: format!("{} [{kernels}]", cpu_model()),
            binary: format!("cnd-core {} ({binary})", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// One calibration in the cache file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    key: CacheKey,
    /// `probe` or `calibrate`.
    measured_by: String,
    measured_unix_s: u64,
    rates: Vec<KernelRate>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    records: Vec<Record>,
}

/// Why a kernel was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoiceSource {
    /// `CND_KERNEL` or `--kernel` named it.
    Forced,
    /// The only kernel this CPU runs besides `portable` (or `portable` itself): no probe.
    Only,
    /// The fastest in the cached calibration for this CPU and binary.
    Cache,
    /// The fastest in a probe run now.
    Probe,
    /// First in the static order: the probe could not measure.
    Static,
    /// The fastest in a probe that searched the run's own first nonces.
    Search,
}

/// The kernel [`Kernel::best`] returns, and why.
#[derive(Debug, Clone, Serialize)]
pub struct KernelChoice {
    /// The kernel.
    #[serde(serialize_with = "kernel_name")]
    pub kernel: Kernel,
    /// Why it was chosen.
    pub source: ChoiceSource,
    /// The rates it was chosen by (empty without a measurement).
    pub rates: Vec<KernelRate>,
    /// `probe` or `calibrate`: what measured the cached rates.
    pub measured_by: Option<String>,
    /// When the rates were measured, seconds since the Unix epoch.
    pub measured_unix_s: Option<u64>,
    /// The cache file read or written.
    pub cache: Option<PathBuf>,
    /// Why the probe's result is kept in this process only.
    pub not_cached: Option<String>,
}

fn kernel_name<S: serde::Serializer>(k: &Kernel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

impl KernelChoice {
    /// A kernel forced by name.
    pub fn forced(kernel: Kernel) -> Self {
        KernelChoice {
            kernel,
            source: ChoiceSource::Forced,
            rates: vec![],
            measured_by: None,
            measured_unix_s: None,
            cache: None,
            not_cached: None,
        }
    }

    /// One line: the kernel, why, and by how much it beats the next one.
    pub fn why(&self) -> String {
        let k = self.kernel;
        let cache = self.cache.as_ref().map_or("-".into(), |p| p.display().to_string());
        let margin = margin(&self.rates, k).map(|m| format!(": {m}")).unwrap_or_default();
        match self.source {
            ChoiceSource::Forced => format!("{k} (forced by --kernel / CND_KERNEL)"),
            ChoiceSource::Only => format!("{k} (the only fast kernel this CPU runs; no probe)"),
            ChoiceSource::Static => format!("{k} (first in the static order: the probe measured nothing)"),
            ChoiceSource::Cache => format!(
                "{k} (fastest in the {} calibration cached in {cache}{margin})",
                if self.measured_by.as_deref() == Some("calibrate") { "`cnd bench --calibrate`" } else { "probe's" }
            ),
            ChoiceSource::Search => format!(
                "{k} (fastest in a {} ms probe that searched the run's first nonces, kept in this process only{margin})",
                PROBE_BUDGET.as_millis()
            ),
            ChoiceSource::Probe => match &self.not_cached {
                None => format!("{k} (fastest in a {} ms probe, cached in {cache}{margin})", PROBE_BUDGET.as_millis()),
                Some(why) => format!(
                    "{k} (fastest in a {} ms probe, kept in this process only: {why}{margin})",
                    PROBE_BUDGET.as_millis()
                ),
            },
        }
    }

    /// The fastest kernel for `format` among the recorded rates, else the chosen one.
    pub fn best_for(&self, format: Format) -> Kernel {
        fastest(&self.rates, Some(format), &Kernel::available()).unwrap_or(self.kernel)
    }
}

/// "1.12× sha-ni (text), 1.31× avx2 (bitcoin)": how much faster `winner` is than the next
/// kernel in each format. None without rates for it and another kernel.
pub fn margin(rates: &[KernelRate], winner: Kernel) -> Option<String> {
    let w = rates.iter().find(|r| r.kernel == winner.name())?;
    let parts: Vec<String> = [Format::Text, Format::Bitcoin]
        .iter()
        .filter_map(|&f| {
            let next = rates
                .iter()
                .filter(|r| r.kernel != w.kernel)
                .max_by(|a, b| a.rate(Some(f)).total_cmp(&b.rate(Some(f))))?;
            Some(format!("{:.2}× {} ({})", w.rate(Some(f)) / next.rate(Some(f)), next.kernel, f.as_str()))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The kernel with the highest rate (for `format`, or the geometric mean of both) among
/// `allowed`.
pub fn fastest(rates: &[KernelRate], format: Option<Format>, allowed: &[Kernel]) -> Option<Kernel> {
    rates
        .iter()
        .filter(|r| r.is_valid())
        .filter_map(|r| Some((*allowed.iter().find(|k| k.name() == r.kernel)?, r.rate(format))))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// The cache directory: `$XDG_CACHE_HOME/cnd` (when absolute), else `$HOME/.cache/cnd`.
pub fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("cnd"))
}

/// Where the kernels' calibration is cached.
pub fn cache_path() -> Option<PathBuf> {
    cache_dir().map(|d| d.join(CACHE_FILE))
}

/// The process's choice, made once.
static CHOICE: OnceLock<KernelChoice> = OnceLock::new();

/// The process's choice, made on first use.
pub(super) fn choice() -> &'static KernelChoice {
    CHOICE.get_or_init(|| {
        let choice = choose(&Kernel::available(), &CacheKey::here(), cache_path().as_deref(), &mut probe_sample);
        tracing::info!("kernel {}", choice.why());
        choice
    })
}

/// The process's choice if it is made or needs no measurement (the only fast kernel, or a
/// calibration cached for this CPU and binary); `None` where [`Kernel::best`] would probe.
pub fn known_choice() -> Option<&'static KernelChoice> {
    if let Some(choice) = CHOICE.get() {
        return Some(choice);
    }
    let known = without_probe(&Kernel::available(), &CacheKey::here(), cache_path().as_deref()).ok()?;
    Some(CHOICE.get_or_init(|| {
        tracing::info!("kernel {}", known.why());
        known
    }))
}

/// The process's choice, made (if [`known_choice`] has none) by a probe whose measurements
/// are the caller's search: `measure(kernel, budget)` searches the run's next nonces with
/// `kernel` for about `budget` and returns its rate in nonces per CPU second (0 once the
/// search needs no more: its nonce found, its range done). The rates are of `format` only,
/// and are kept in this process.
pub fn choose_by_search(format: Format, measure: &mut dyn FnMut(Kernel, Duration) -> f64) -> &'static KernelChoice {
    if let Some(choice) = known_choice() {
        return choice;
    }
    CHOICE.get_or_init(|| {
        let choice = by_search(&Kernel::available(), format, measure);
        tracing::info!("kernel {}", choice.why());
        choice
    })
}

/// The choice measured by `measure` on `format`, without a cache.
fn by_search(available: &[Kernel], format: Format, measure: &mut dyn FnMut(Kernel, Duration) -> f64) -> KernelChoice {
    let base = match without_probe(available, &CacheKey { cpu: String::new(), binary: String::new() }, None) {
        Ok(choice) => return choice,
        Err(base) => base,
    };
    let fast = fast_kernels(available);
    let rates = probe(&fast, &[format], &mut |k, _, d| measure(k, d));
    match fastest(&rates, Some(format), &fast) {
        Some(kernel) => {
            KernelChoice { kernel, source: ChoiceSource::Search, rates, measured_by: Some("search".into()), ..base }
        }
        None => KernelChoice { source: ChoiceSource::Static, ..base },
    }
}

/// Records `rates` (measured by `cnd bench --calibrate`) as this CPU and binary's
/// calibration; returns the file written.
pub fn record_calibration(rates: Vec<KernelRate>) -> Result<PathBuf, String> {
    let path = cache_path().ok_or("no cache directory (set XDG_CACHE_HOME or HOME)")?;
    write_record(&path, record(CacheKey::here(), "calibrate", rates))?;
    Ok(path)
}

/// The choice for a CPU running `available` (in the static order), with the cache file at
/// `path` and `measure(kernel, format, duration)` giving one rate (nonces per CPU second).
pub(crate) fn choose(
    available: &[Kernel],
    key: &CacheKey,
    path: Option<&Path>,
    measure: &mut dyn FnMut(Kernel, Format, Duration) -> f64,
) -> KernelChoice {
    let mut choice = match without_probe(available, key, path) {
        Ok(choice) => return choice,
        Err(base) => base,
    };
    let fast = fast_kernels(available);
    let rates = probe(&fast, &[Format::Text, Format::Bitcoin], measure);
    let Some(k) = fastest(&rates, None, &fast) else {
        choice.source = ChoiceSource::Static;
        return choice;
    };
    let record = record(key.clone(), "probe", rates.clone());
    choice.measured_unix_s = Some(record.measured_unix_s);
    choice.not_cached = match path {
        Some(p) => write_record(p, record).err(),
        None => Some("no cache directory (neither XDG_CACHE_HOME nor HOME is set)".into()),
    };
    KernelChoice { kernel: k, source: ChoiceSource::Probe, rates, measured_by: Some("probe".into()), ..choice }
}

/// The kernels worth measuring: all but `portable`.
fn fast_kernels(available: &[Kernel]) -> Vec<Kernel> {
    available.iter().copied().filter(|&k| k != Kernel::Portable).collect()
}

/// The choice made without measuring (`Ok`): the only fast kernel, or the fastest of a
/// calibration cached at `path` for `key`. Else (`Err`) the choice to start a probe from.
fn without_probe(available: &[Kernel], key: &CacheKey, path: Option<&Path>) -> Result<KernelChoice, KernelChoice> {
    let fast = fast_kernels(available);
    let first = available.first().copied().unwrap_or(Kernel::Portable);
    let mut choice =
        KernelChoice { source: ChoiceSource::Only, cache: path.map(Path::to_path_buf), ..KernelChoice::forced(first) };
    if fast.len() <= 1 {
        return Ok(choice);
    }
    if let Some(r) = path.and_then(|p| cached(p, key, &fast))
        && let Some(k) = fastest(&r.rates, None, &fast)
    {
        choice.kernel = k;
        choice.source = ChoiceSource::Cache;
        choice.measured_by = Some(r.measured_by);
        choice.measured_unix_s = Some(r.measured_unix_s);
        choice.rates = r.rates;
        return Ok(choice);
    }
    Err(choice)
}

/// Measures each kernel on `formats`, [`PROBE_ROUNDS`] times interleaved, within
/// [`PROBE_BUDGET`]; keeps each one's highest rate. A format not measured takes the rate
/// of the one measured (a probe of the run's own format).
fn probe(
    kernels: &[Kernel],
    formats: &[Format],
    measure: &mut dyn FnMut(Kernel, Format, Duration) -> f64,
) -> Vec<KernelRate> {
    let slice = PROBE_BUDGET / (kernels.len() * formats.len()).max(1) as u32 / PROBE_ROUNDS;
    let mut rates: Vec<KernelRate> =
        kernels.iter().map(|k| KernelRate { kernel: k.name().into(), text: 0.0, bitcoin: 0.0 }).collect();
    for _ in 0..PROBE_ROUNDS {
        for (k, r) in kernels.iter().zip(rates.iter_mut()) {
            for &f in formats {
                let rate = measure(*k, f, slice);
                let field = if f == Format::Text { &mut r.text } else { &mut r.bitcoin };
                *field = field.max(rate);
            }
        }
    }
    if let [only] = formats {
        for r in &mut rates {
            (r.text, r.bitcoin) = (r.rate(Some(*only)), r.rate(Some(*only)));
        }
    }
    rates.retain(KernelRate::is_valid);
    rates
}

/// The real measurement: the calling thread, the measuring problem and range.
fn probe_sample(kernel: Kernel, format: Format, duration: Duration) -> f64 {
    static PREPARED: OnceLock<[super::Prepared; 2]> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prepared =
        PREPARED.get_or_init(|| [Format::Text, Format::Bitcoin].map(|f| super::Prepared::new(&measure_problem(f))));
    let p = &prepared[usize::from(format == Format::Bitcoin)];
    sample(kernel, p, measure_range(format), &NEXT, duration).per_cpu_second()
}

fn record(key: CacheKey, measured_by: &str, rates: Vec<KernelRate>) -> Record {
    let measured_unix_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Record { key, measured_by: measured_by.into(), measured_unix_s, rates }
}

/// The record for `key` in the file at `path`, if it is readable and covers every kernel of
/// `fast` with valid rates.
fn cached(path: &Path, key: &CacheKey, fast: &[Kernel]) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: CacheFile = serde_json::from_str(&text).ok()?;
    file.records.into_iter().find(|r| {
        r.key == *key && fast.iter().all(|k| r.rates.iter().any(|rate| rate.kernel == k.name() && rate.is_valid()))
    })
}

/// Adds `record` to the file at `path` (replacing the one of the same key, keeping the
/// newest [`KEEP_RECORDS`]; an unreadable file is replaced), atomically.
fn write_record(path: &Path, record: Record) -> Result<(), String> {
    let mut file: CacheFile =
        std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    file.records.retain(|r| r.key != record.key);
    file.records.insert(0, record);
    file.records.truncate(KEEP_RECORDS);
    let dir = path.parent().ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let json = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&tmp, json).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("write {}: {e}", path.display())
    })
}

/// The CPU model: vendor, brand string, family, model and stepping (`cpuid` on x86_64,
/// `/proc/cpuinfo` elsewhere).
pub fn cpu_model() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        let regs = |leaf: u32| {
            #[allow(unused_unsafe)]
            // SAFETY: cpuid exists on every x86_64 CPU; the leaves read are checked against the
            // highest one the CPU reports.
            let r = unsafe { __cpuid(leaf) };
            [r.eax, r.ebx, r.ecx, r.edx]
        };
        let bytes = |words: &[u32]| words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
        let [max, b, c, d] = regs(0);
        let vendor = String::from_utf8_lossy(&bytes(&[b, d, c])).into_owned();
        let brand = if regs(0x8000_0000)[0] >= 0x8000_0004 {
            let words: Vec<u32> = (0x8000_0002..=0x8000_0004).flat_map(regs).collect();
            String::from_utf8_lossy(&bytes(&words)).trim_matches(['\0', ' ']).to_string()
        } else {
            String::new()
        };
        let eax = if max >= 1 { regs(1)[0] } else { 0 };
        let (base_family, base_model, stepping) = ((eax >> 8) & 0xf, (eax >> 4) & 0xf, eax & 0xf);
        let family = if base_family == 0xf { base_family + ((eax >> 20) & 0xff) } else { base_family };
        let model =
            if base_family == 0x6 || base_family == 0xf { base_model | ((eax >> 12) & 0xf0) } else { base_model };
        format!("{vendor} {brand} (family {family}, model {model}, stepping {stepping})")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let model = ["model name", "CPU implementer", "CPU part", "CPU variant", "CPU revision"]
            .iter()
            .filter_map(|f| field(f).map(|v| format!("{f} {v}")))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{} {model}", std::env::consts::ARCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cpu: &str) -> CacheKey {
        CacheKey { cpu: cpu.into(), binary: "v1".into() }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cnd-choice-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Three fast kernels (whatever this CPU has: the choice logic does not run them), and a
    /// measurement where `winner` is fastest, counting its calls.
    const FAST: [Kernel; 3] = [Kernel::Avx512, Kernel::ShaNi, Kernel::Avx2];

    fn rates_with(winner: Kernel) -> impl FnMut(Kernel, Format, Duration) -> f64 {
        move |k, _, _| if k == winner { 3.0e7 } else { 1.0e7 }
    }

    #[test]
    fn a_probe_picks_the_fastest_and_caches_it_then_the_cache_is_used_without_probing() {
        let path = dir("probe").join("kernels.json");
        let mut calls = 0;
        let mut m = rates_with(Kernel::Avx2);
        let mut counted = |k, f, d| {
            calls += 1;
            m(k, f, d)
        };
        let c = choose(&FAST, &key("cpu"), Some(&path), &mut counted);
        assert_eq!((c.kernel, c.source, c.not_cached.as_deref()), (Kernel::Avx2, ChoiceSource::Probe, None));
        assert_eq!(calls, 3 * 2 * PROBE_ROUNDS as usize);
        assert!(c.why().contains("3.00× ") && c.why().contains(" (text)"), "{}", c.why());
        let again = choose(&FAST, &key("cpu"), Some(&path), &mut |_, _, _| panic!("probed despite the cache"));
        assert_eq!((again.kernel, again.source), (Kernel::Avx2, ChoiceSource::Cache));
    }

    #[test]
    fn a_record_for_another_cpu_or_binary_is_ignored_and_kept() {
        let path = dir("other").join("kernels.json");
        choose(&FAST, &key("other cpu"), Some(&path), &mut rates_with(Kernel::ShaNi));
        let c = choose(&FAST, &key("cpu"), Some(&path), &mut rates_with(Kernel::Avx512));
        assert_eq!((c.kernel, c.source), (Kernel::Avx512, ChoiceSource::Probe));
        let other_binary = CacheKey { binary: "v2".into(), ..key("cpu") };
        let c = choose(&FAST, &other_binary, Some(&path), &mut rates_with(Kernel::Avx2));
        assert_eq!((c.kernel, c.source), (Kernel::Avx2, ChoiceSource::Probe));
        let c = choose(&FAST, &key("other cpu"), Some(&path), &mut |_, _, _| panic!("probed"));
        assert_eq!((c.kernel, c.source), (Kernel::ShaNi, ChoiceSource::Cache));
    }

    #[test]
    fn a_corrupt_cache_is_ignored_and_rewritten() {
        let d = dir("corrupt");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("kernels.json");
        std::fs::write(&path, "{ not json").unwrap();
        let c = choose(&FAST, &key("cpu"), Some(&path), &mut rates_with(Kernel::ShaNi));
        assert_eq!((c.kernel, c.source, c.not_cached), (Kernel::ShaNi, ChoiceSource::Probe, None));
        let file: CacheFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(file.records.len(), 1);
    }

    #[test]
    fn an_unwritable_cache_keeps_the_probe_in_process() {
        let d = dir("unwritable");
        std::fs::create_dir_all(&d).unwrap();
        // A file where the cache directory should be: create_dir_all fails, as on a
        // read-only filesystem.
        std::fs::write(d.join("cnd"), "").unwrap();
        let path = d.join("cnd").join("kernels.json");
        let c = choose(&FAST, &key("cpu"), Some(&path), &mut rates_with(Kernel::Avx512));
        assert_eq!((c.kernel, c.source), (Kernel::Avx512, ChoiceSource::Probe));
        assert!(c.not_cached.is_some() && c.why().contains("kept in this process only"), "{}", c.why());
        let c = choose(&FAST, &key("cpu"), None, &mut rates_with(Kernel::ShaNi));
        assert_eq!((c.kernel, c.source), (Kernel::ShaNi, ChoiceSource::Probe));
        assert!(c.not_cached.unwrap().contains("HOME"));
    }

    #[test]
    fn one_fast_kernel_or_none_is_chosen_without_a_probe_and_a_failed_probe_keeps_the_static_order() {
        let mut never = |_, _, _| -> f64 { panic!("probed") };
        let c = choose(&[Kernel::Avx2, Kernel::Portable], &key("cpu"), None, &mut never);
        assert_eq!((c.kernel, c.source), (Kernel::Avx2, ChoiceSource::Only));
        let c = choose(&[Kernel::Portable], &key("cpu"), None, &mut never);
        assert_eq!((c.kernel, c.source), (Kernel::Portable, ChoiceSource::Only));
        let c = choose(&FAST, &key("cpu"), None, &mut |_, _, _| 0.0);
        assert_eq!((c.kernel, c.source), (Kernel::Avx512, ChoiceSource::Static));
    }

    #[test]
    fn the_choice_can_differ_per_format() {
        let rates = vec![
            KernelRate { kernel: "sha-ni".into(), text: 32.0, bitcoin: 20.0 },
            KernelRate { kernel: "portable".into(), text: 29.0, bitcoin: 21.0 },
        ];
        let both = [Kernel::ShaNi, Kernel::Portable];
        assert_eq!(fastest(&rates, Some(Format::Text), &both), Some(Kernel::ShaNi));
        assert_eq!(fastest(&rates, Some(Format::Bitcoin), &both), Some(Kernel::Portable));
        assert_eq!(fastest(&rates, None, &both), Some(Kernel::ShaNi));
        assert_eq!(fastest(&rates, None, &[Kernel::Portable]), Some(Kernel::Portable), "only the allowed kernels");
    }

    /// The run's own probe: one format, every fast kernel twice, nothing cached; a probe
    /// that measured nothing (its search over at once) keeps the static order.
    #[test]
    fn a_probe_on_the_runs_nonces_measures_its_format_and_caches_nothing() {
        let mut calls = vec![];
        let c = by_search(&FAST, Format::Bitcoin, &mut |k, d| {
            calls.push((k, d));
            match k {
                Kernel::ShaNi => 2.0e7,
                Kernel::Avx512 => 1.0e7,
                _ => 0.5e7,
            }
        });
        assert_eq!((c.kernel, c.source, c.cache.as_deref()), (Kernel::ShaNi, ChoiceSource::Search, None));
        assert_eq!(calls.len(), 3 * PROBE_ROUNDS as usize);
        assert!(calls.iter().all(|(_, d)| *d == PROBE_BUDGET / 6), "{calls:?}");
        assert!(
            c.why().contains("searched the run's first nonces") && c.why().contains("2.00× avx512 (bitcoin)"),
            "{}",
            c.why()
        );
        let c = by_search(&FAST, Format::Text, &mut |_, _| 0.0);
        assert_eq!((c.kernel, c.source), (Kernel::Avx512, ChoiceSource::Static));
        let c = by_search(&[Kernel::Avx2, Kernel::Portable], Format::Text, &mut |_, _| panic!("probed"));
        assert_eq!((c.kernel, c.source), (Kernel::Avx2, ChoiceSource::Only));
    }

    #[test]
    fn the_cpu_model_names_something() {
        let m = cpu_model();
        assert!(m.len() > 8, "{m}");
        assert_eq!(CacheKey::here(), CacheKey::here());
    }
}
