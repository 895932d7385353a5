//! The quantities a Job is rendered with, each parsed from its flag with an error that names
//! the flag and the allowed values: the server's [`KubeVersion`], a pod's [`Cpu`] and
//! [`Memory`], and the image's [`PullPolicy`].

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::error::{Error, Result};

/// A Kubernetes minor version, as `/version` reports it or `--kube-version` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KubeVersion {
    /// The oldest server cnd supports: `backoffLimitPerIndex` is on by default from 1.29.
    pub const MIN: KubeVersion = KubeVersion { major: 1, minor: 29 };
    /// `successPolicy` is on by default from 1.31.
    pub const SUCCESS_POLICY: KubeVersion = KubeVersion { major: 1, minor: 31 };
    /// The newest version this build knows; `cnd k8s manifest` renders for it by default.
    pub const LATEST: KubeVersion = KubeVersion { major: 1, minor: 37 };

    /// From `/version`'s `major` and `minor` (which may carry a suffix, as in EKS's `"31+"`).
    pub fn from_parts(major: &str, minor: &str) -> Option<Self> {
        fn leading_number(s: &str) -> Option<u32> {
            let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        }
        Some(Self { major: leading_number(major)?, minor: leading_number(minor)? })
    }

    /// From the API server's `/version`.
    pub fn from_info(info: &k8s_openapi::apimachinery::pkg::version::Info) -> Option<Self> {
        Self::from_parts(&info.major, &info.minor).or_else(|| {
            // Some distributions leave major/minor empty: fall back to gitVersion "v1.31.2".
            let v = info.git_version.trim_start_matches('v');
            let mut parts = v.split('.');
            Self::from_parts(parts.next()?, parts.next()?)
        })
    }

    /// True if a server of this version accepts cnd's Job.
    pub fn supported(self) -> bool {
        self >= Self::MIN
    }

    /// True if a server of this version runs `successPolicy`.
    pub fn has_success_policy(self) -> bool {
        self >= Self::SUCCESS_POLICY
    }
}

impl FromStr for KubeVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let parsed = match (parts.next(), parts.next()) {
            (Some(major), Some(minor)) => Self::from_parts(major, minor),
            _ => None,
        };
        match parsed {
            Some(v) if v.supported() => Ok(v),
            Some(v) => Err(Error::Invalid {
                flag: "--kube-version",
                message: format!("{v} is too old (allowed: 1.29 or newer)"),
            }),
            None => Err(Error::Invalid {
                flag: "--kube-version",
                message: format!("'{s}' is not a version (allowed: MAJOR.MINOR such as 1.29, 1.31)"),
            }),
        }
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// CPUs per pod, in millicores: `1`, `2`, `0.5`, `500m`, `1.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    millis: u32,
}

impl Cpu {
    /// One whole CPU.
    pub const ONE: Cpu = Cpu { millis: 1000 };

    /// The CPU in millicores.
    pub fn millis(self) -> u32 {
        self.millis
    }

    /// The worker's threads: the whole CPUs requested, at least one.
    pub fn threads(self) -> u32 {
        (self.millis / 1000).max(1)
    }

    /// As a Kubernetes quantity: `2` for whole CPUs, `500m` otherwise.
    pub fn quantity(self) -> Quantity {
        if self.millis.is_multiple_of(1000) {
            Quantity((self.millis / 1000).to_string())
        } else {
            Quantity(format!("{}m", self.millis))
        }
    }
}

impl Default for Cpu {
    fn default() -> Self {
        Self::ONE
    }
}

impl FromStr for Cpu {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid {
            flag: "--cpu",
            message: format!("'{s}' {why} (allowed: whole CPUs such as 1 or 2, or a fraction such as 0.5 or 500m)"),
        };
        let t = s.trim();
        let millis: u64 = if let Some(m) = t.strip_suffix('m') {
            m.parse().map_err(|_| bad("is not a CPU quantity"))?
        } else {
            let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(bad("is not a CPU quantity"));
            }
            if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad("is not a CPU quantity"));
            }
            if frac.len() > 3 {
                return Err(bad("is finer than a millicore"));
            }
            let w: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad("is too large"))? };
            let f: u64 = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<3}").parse().map_err(|_| bad("is not a CPU quantity"))?
            };
            w.checked_mul(1000).and_then(|w| w.checked_add(f)).ok_or_else(|| bad("is too large"))?
        };
        if millis == 0 {
            return Err(bad("is zero"));
        }
        if millis > 1_024_000 {
            return Err(bad("is too large"));
        }
        Ok(Cpu { millis: millis as u32 })
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quantity().0)
    }
}

/// Memory per pod, a Kubernetes quantity such as `64Mi` or `1Gi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory(String);

impl Memory {
    /// The default: 128 MiB (the worker is a static binary that allocates next to nothing).
    pub fn default_size() -> Self {
        Memory("128Mi".into())
    }

    /// As a Kubernetes quantity.
    pub fn quantity(&self) -> Quantity {
        Quantity(self.0.clone())
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::default_size()
    }
}

impl FromStr for Memory {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
        let (number, suffix) = t.split_at(digits);
        let ok = digits > 0
            && number.parse::<u64>().is_ok_and(|n| n > 0)
            && ["", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix);
        if !ok {
            return Err(Error::Invalid {
                flag: "--memory",
                message: format!(
                    "'{s}' is not a memory size (allowed: a positive whole number with an optional suffix Ki, Mi, Gi, Ti, k, M, G, T, e.g. 128Mi)"
                ),
            });
        }
        Ok(Memory(t.to_string()))
    }
}

/// When the kubelet pulls the worker image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull if the node lacks it (the default).
    #[default]
    IfNotPresent,
    /// Never pull: the image must be on the node (e.g. `kind load`, `ctr images import`).
    Never,
}

impl PullPolicy {
    /// The Kubernetes name.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

impl FromStr for PullPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(PullPolicy::Always),
            "ifnotpresent" | "if-not-present" => Ok(PullPolicy::IfNotPresent),
            "never" => Ok(PullPolicy::Never),
            _ => Err(Error::Invalid {
                flag: "--image-pull-policy",
                message: format!("'{s}' is not a pull policy (allowed: Always, IfNotPresent, Never)"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_takes_whole_cpus_and_fractions() {
        let c: Cpu = "2".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (2000, 2, "2"));
        let c: Cpu = "0.5".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (500, 1, "500m"));
        let c: Cpu = "500m".parse().unwrap();
        assert_eq!((c.millis(), c.threads()), (500, 1));
        let c: Cpu = "1.5".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (1500, 1, "1500m"));
        assert_eq!("2500m".parse::<Cpu>().unwrap().threads(), 2);
        for bad in ["0", "0m", "-1", "x", "1.0005", "", ".", "1e3"] {
            let e = bad.parse::<Cpu>().unwrap_err().to_string();
            assert!(e.starts_with("--cpu: ") && e.contains("allowed"), "{bad}: {e}");
        }
    }

    #[test]
    fn memory_and_pull_policy_validate() {
        assert!("64Mi".parse::<Memory>().is_ok());
        assert!("1Gi".parse::<Memory>().is_ok());
        assert!("lots".parse::<Memory>().unwrap_err().to_string().starts_with("--memory: "));
        assert!("0Mi".parse::<Memory>().is_err());
        assert_eq!("never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }

    #[test]
    fn versions_parse_like_servers_report_them() {
        assert_eq!(KubeVersion::from_parts("1", "31+"), Some(KubeVersion { major: 1, minor: 31 }));
        assert_eq!("1.29".parse::<KubeVersion>().unwrap(), KubeVersion::MIN);
        assert_eq!("v1.34.4".parse::<KubeVersion>().unwrap(), KubeVersion { major: 1, minor: 34 });
        assert!("1.28".parse::<KubeVersion>().unwrap_err().to_string().contains("too old"));
        assert!("one".parse::<KubeVersion>().is_err());
        assert!(!KubeVersion::MIN.has_success_policy());
        assert!(KubeVersion::SUCCESS_POLICY.has_success_policy());
    }
}
