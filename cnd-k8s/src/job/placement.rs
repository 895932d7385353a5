//! Where a run's pods may go: `--node-selector KEY=VALUE` and `--toleration
//! KEY[=VALUE]:EFFECT`, what a spot or dedicated node pool asks of the pods it takes (and what
//! puts the scale test's pods on its simulated nodes). Each is parsed from its flag with an
//! error that names the flag and the allowed forms, and [`Placement::apply`] writes them into
//! the pod spec.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::{PodSpec, Toleration};

use crate::error::{Error, Result};

const SELECTOR_FORM: &str = "allowed: KEY=VALUE, a label key such as pool or example.com/pool and a value of up \
                             to 63 letters, digits, '-', '_', '.'";
const TOLERATION_FORM: &str = "allowed: KEY[=VALUE]:EFFECT, EFFECT one of NoSchedule, PreferNoSchedule, NoExecute";

/// One `--node-selector KEY=VALUE`: the pods go only to nodes labelled so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelector {
    /// The label key.
    pub key: String,
    /// The label value.
    pub value: String,
}

/// The effect of a taint a [`TolerationSpec`] tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintEffect {
    /// New pods are not scheduled on the node.
    NoSchedule,
    /// The scheduler avoids the node.
    PreferNoSchedule,
    /// Pods running on the node are evicted.
    NoExecute,
}

impl TaintEffect {
    /// The name Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

/// One `--toleration KEY[=VALUE]:EFFECT`: the pods tolerate that taint (operator `Equal`
/// with a value, `Exists` without).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TolerationSpec {
    /// The taint's key.
    pub key: String,
    /// The taint's value; `None` tolerates any value.
    pub value: Option<String>,
    /// The taint's effect.
    pub effect: TaintEffect,
}

/// Where a run's pods may be scheduled: node selectors and tolerations, in flag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// `--node-selector`, each at most once per key.
    pub node_selector: Vec<NodeSelector>,
    /// `--toleration`.
    pub tolerations: Vec<TolerationSpec>,
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of 1 to 63 characters
/// (letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit).
fn valid_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_value(name)
}

/// A label value: empty, or up to 63 letters, digits, `-`, `_`, `.`, starting and ending
/// with a letter or digit.
fn valid_value(value: &str) -> bool {
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    value.len() <= 63
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(value.chars().next())
        && alnum(value.chars().last())
}

impl FromStr for NodeSelector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid =
            || Error::Invalid { flag: "--node-selector", message: format!("{s:?} is not valid ({SELECTOR_FORM})") };
        let (key, value) = s.split_once('=').ok_or_else(invalid)?;
        if !valid_key(key) || !valid_value(value) {
            return Err(invalid());
        }
        Ok(Self { key: key.into(), value: value.into() })
    }
}

impl FromStr for TaintEffect {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "NoSchedule" => Ok(Self::NoSchedule),
            "PreferNoSchedule" => Ok(Self::PreferNoSchedule),
            "NoExecute" => Ok(Self::NoExecute),
            _ => Err(()),
        }
    }
}

impl FromStr for TolerationSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid =
            || Error::Invalid { flag: "--toleration", message: format!("{s:?} is not valid ({TOLERATION_FORM})") };
        let (taint, effect) = s.rsplit_once(':').ok_or_else(invalid)?;
        let effect: TaintEffect = effect.parse().map_err(|()| invalid())?;
        let (key, value) = match taint.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (taint, None),
        };
        if !valid_key(key) || !value.is_none_or(valid_value) {
            return Err(invalid());
        }
        Ok(Self { key: key.into(), value: value.map(str::to_string), effect })
    }
}

impl fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl fmt::Display for TolerationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}:{}", self.key, v, self.effect.as_str()),
            None => write!(f, "{}:{}", self.key, self.effect.as_str()),
        }
    }
}

impl Placement {
    /// From the flags' values, in order: each parsed ([`Error::Invalid`] naming the flag), and
    /// a key given twice to `--node-selector` refused (a pod cannot match both values).
    pub fn parse<S: AsRef<str>>(node_selector: &[S], tolerations: &[S]) -> Result<Self> {
        let node_selector: Vec<NodeSelector> =
            node_selector.iter().map(|s| s.as_ref().parse()).collect::<Result<_>>()?;
        for (i, a) in node_selector.iter().enumerate() {
            if node_selector[..i].iter().any(|b| b.key == a.key) {
                return Err(Error::Invalid {
                    flag: "--node-selector",
                    message: format!("key {:?} is given twice (allowed: each key once)", a.key),
                });
            }
        }
        let tolerations = tolerations.iter().map(|s| s.as_ref().parse()).collect::<Result<_>>()?;
        Ok(Self { node_selector, tolerations })
    }

    /// True if there is nothing to place.
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.tolerations.is_empty()
    }

    /// Sets the pod's `nodeSelector` and `tolerations` (left unset when there are none).
    pub fn apply(&self, pod: &mut PodSpec) {
        if !self.node_selector.is_empty() {
            let map: BTreeMap<String, String> =
                self.node_selector.iter().map(|s| (s.key.clone(), s.value.clone())).collect();
            pod.node_selector = Some(map);
        }
        if !self.tolerations.is_empty() {
            pod.tolerations = Some(
                self.tolerations
                    .iter()
                    .map(|t| Toleration {
                        key: Some(t.key.clone()),
                        operator: Some(if t.value.is_some() { "Equal" } else { "Exists" }.into()),
                        value: t.value.clone(),
                        effect: Some(t.effect.as_str().into()),
                        ..Default::default()
                    })
                    .collect(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_selectors_parse_and_print_back() {
        for s in ["pool=spot", "example.com/pool=a-b_c.1", "cnd.dev/kwok=", "k=v"] {
            let n: NodeSelector = s.parse().unwrap();
            assert_eq!(n.to_string(), s);
        }
        let n: NodeSelector = "example.com/pool=spot".parse().unwrap();
        assert_eq!((n.key.as_str(), n.value.as_str()), ("example.com/pool", "spot"));
    }

    #[test]
    fn bad_node_selectors_name_the_flag_and_the_form() {
        for s in [
            "pool",
            "=spot",
            "pool=-x",
            "pool=a b",
            "Ex.com/pool=x",
            "/pool=x",
            "a/b/c=x",
            &format!("k={}", "x".repeat(64)),
        ] {
            let e = s.parse::<NodeSelector>().unwrap_err().to_string();
            assert!(e.starts_with("--node-selector: "), "{s}: {e}");
            assert!(e.contains("KEY=VALUE"), "{s}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn tolerations_parse_with_and_without_a_value() {
        let t: TolerationSpec = "cnd.dev/pool=kwok:NoSchedule".parse().unwrap();
        assert_eq!(
            t,
            TolerationSpec { key: "cnd.dev/pool".into(), value: Some("kwok".into()), effect: TaintEffect::NoSchedule }
        );
        let t: TolerationSpec = "spot:NoExecute".parse().unwrap();
        assert_eq!((t.value, t.effect), (None, TaintEffect::NoExecute));
        for s in ["a=b:PreferNoSchedule", "a:NoSchedule", "a=:NoExecute"] {
            assert_eq!(s.parse::<TolerationSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_tolerations_name_the_flag_and_the_effects() {
        for s in ["spot", "spot:noschedule", "spot=x", ":NoSchedule", "a=b c:NoSchedule", "spot:", "a=b:Evict"] {
            let e = s.parse::<TolerationSpec>().unwrap_err().to_string();
            assert!(e.starts_with("--toleration: "), "{s}: {e}");
            assert!(e.contains("NoSchedule, PreferNoSchedule, NoExecute"), "{s}: {e}");
        }
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = Placement::parse(&["pool=a", "pool=b"], &[]).unwrap_err().to_string();
        assert!(e.starts_with("--node-selector: key \"pool\" is given twice"), "{e}");
    }

    #[test]
    fn apply_renders_node_selector_and_tolerations() {
        let p =
            Placement::parse(&["pool=kwok", "zone=a"], &["cnd.dev/pool=kwok:NoSchedule", "spot:NoExecute"]).unwrap();
        let mut pod = PodSpec::default();
        p.apply(&mut pod);
        let sel = pod.node_selector.unwrap();
        assert_eq!(sel.get("pool").map(String::as_str), Some("kwok"));
        assert_eq!(sel.len(), 2);
        let t = pod.tolerations.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].key.as_deref(), t[0].operator.as_deref(), t[0].value.as_deref(), t[0].effect.as_deref()),
            (Some("cnd.dev/pool"), Some("Equal"), Some("kwok"), Some("NoSchedule"))
        );
        assert_eq!((t[1].operator.as_deref(), t[1].value.as_deref()), (Some("Exists"), None));
    }

    #[test]
    fn nothing_to_place_leaves_the_pod_alone() {
        let mut pod = PodSpec::default();
        Placement::default().apply(&mut pod);
        assert_eq!((pod.node_selector, pod.tolerations), (None, None));
    }
}
