//! Feature gates (`--feature-gates CELOmitFunction=true,...`), all Alpha and off by default upstream.
//!
//! As in Kubernetes' component-base, the keys `AllAlpha` and `AllBeta` switch every alpha (beta)
//! gate that the same list does not name: `AllAlpha=true,CELOmitFunction=false` turns on every
//! alpha gate but `CELOmitFunction`, whatever the order of the entries.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// One alpha feature of the operator that can be switched on with `--feature-gates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeatureGate {
    /// Enables the CEL `omit()` function in templates.
    CelOmitFunction,
    /// Emits Kubernetes events when instance conditions change.
    InstanceConditionEvents,
    /// Exposes the `instance_condition_current_status_seconds` gauge.
    InstanceConditionMetrics,
}

/// The maturity of a gate, which decides whether `AllAlpha` or `AllBeta` switches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Experimental, off by default.
    Alpha,
    /// Mostly stable, usually on by default.
    Beta,
}

/// The key that switches every alpha gate not named explicitly.
pub const ALL_ALPHA: &str = "AllAlpha";
/// The key that switches every beta gate not named explicitly.
pub const ALL_BETA: &str = "AllBeta";

impl FeatureGate {
    /// Every known gate, in the order `--help` lists them.
    pub const ALL: [FeatureGate; 3] = [
        FeatureGate::CelOmitFunction,
        FeatureGate::InstanceConditionEvents,
        FeatureGate::InstanceConditionMetrics,
    ];

    /// The gate's name as written on the command line (upstream's spelling).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FeatureGate::CelOmitFunction => "CELOmitFunction",
            FeatureGate::InstanceConditionEvents => "InstanceConditionEvents",
            FeatureGate::InstanceConditionMetrics => "InstanceConditionMetrics",
        }
    }

    /// The gate's maturity; every kro gate is alpha, as upstream's.
    #[must_use]
    pub fn stage(self) -> Stage {
        match self {
            FeatureGate::CelOmitFunction
            | FeatureGate::InstanceConditionEvents
            | FeatureGate::InstanceConditionMetrics => Stage::Alpha,
        }
    }

    /// The state of the gate when nothing switches it.
    #[must_use]
    pub fn default_enabled(self) -> bool {
        false
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|gate| gate.name() == name)
    }
}

impl fmt::Display for FeatureGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `--feature-gates` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeatureGateError {
    /// A gate name the operator does not know.
    #[error(
        "unknown feature gate `{name}`, expected one of CELOmitFunction, InstanceConditionEvents, InstanceConditionMetrics, AllAlpha, AllBeta"
    )]
    Unknown {
        /// The name as written.
        name: String,
    },
    /// An entry without `=`.
    #[error("feature gate entry `{entry}` is missing `=`, expected `Name=true` or `Name=false`")]
    MissingValue {
        /// The entry as written.
        entry: String,
    },
    /// A value that is not a boolean.
    #[error("feature gate `{name}` has value `{value}`, expected true or false")]
    NotABool {
        /// The gate name.
        name: String,
        /// The value as written.
        value: String,
    },
}

/// The set of gates with their state; a gate not named takes `AllAlpha`/`AllBeta` for its stage
/// when given, else its default (off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureGates {
    explicit: BTreeMap<FeatureGate, bool>,
    all_alpha: Option<bool>,
    all_beta: Option<bool>,
}

impl FeatureGates {
    /// Whether `gate` is on.
    #[must_use]
    pub fn enabled(&self, gate: FeatureGate) -> bool {
        let by_stage = match gate.stage() {
            Stage::Alpha => self.all_alpha,
            Stage::Beta => self.all_beta,
        };
        self.explicit
            .get(&gate)
            .copied()
            .or(by_stage)
            .unwrap_or_else(|| gate.default_enabled())
    }

    /// Sets `AllAlpha`: every alpha gate not set explicitly follows it.
    pub fn set_all_alpha(&mut self, enabled: bool) {
        self.all_alpha = Some(enabled);
    }

    /// Sets `AllBeta`: every beta gate not set explicitly follows it.
    pub fn set_all_beta(&mut self, enabled: bool) {
        self.all_beta = Some(enabled);
    }

    /// Turns `gate` on or off.
    pub fn set(&mut self, gate: FeatureGate, enabled: bool) {
        self.explicit.insert(gate, enabled);
    }
}

impl fmt::Display for FeatureGates {
    /// Writes `AllAlpha`, `AllBeta` and the explicit gates in the `--feature-gates` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [(ALL_ALPHA, self.all_alpha), (ALL_BETA, self.all_beta)];
        let entries: Vec<String> = all
            .into_iter()
            .filter_map(|(name, value)| value.map(|enabled| format!("{name}={enabled}")))
            .chain(
                self.explicit
                    .iter()
                    .map(|(gate, enabled)| format!("{gate}={enabled}")),
            )
            .collect();
        f.write_str(&entries.join(","))
    }
}

impl FromStr for FeatureGates {
    type Err = FeatureGateError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut gates = FeatureGates::default();
        for entry in value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (name, raw) =
                entry
                    .split_once('=')
                    .ok_or_else(|| FeatureGateError::MissingValue {
                        entry: entry.to_owned(),
                    })?;
            let (name, raw) = (name.trim(), raw.trim());
            let enabled = parse_go_bool(raw).ok_or_else(|| FeatureGateError::NotABool {
                name: name.to_owned(),
                value: raw.to_owned(),
            })?;
            match name {
                ALL_ALPHA => gates.set_all_alpha(enabled),
                ALL_BETA => gates.set_all_beta(enabled),
                _ => {
                    let gate =
                        FeatureGate::from_name(name).ok_or_else(|| FeatureGateError::Unknown {
                            name: name.to_owned(),
                        })?;
                    gates.set(gate, enabled);
                }
            }
        }
        Ok(gates)
    }
}

/// Go's `strconv.ParseBool`, which upstream uses for gate values.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_gates_default_off() {
        let gates: FeatureGates = "".parse().expect("empty is valid");
        for gate in FeatureGate::ALL {
            assert!(!gates.enabled(gate), "{gate} should default to off");
        }
    }

    #[test]
    fn parses_a_list_of_gates() {
        let gates: FeatureGates =
            "CELOmitFunction=true, InstanceConditionMetrics=True,InstanceConditionEvents=false"
                .parse()
                .expect("valid list");
        assert!(gates.enabled(FeatureGate::CelOmitFunction));
        assert!(gates.enabled(FeatureGate::InstanceConditionMetrics));
        assert!(!gates.enabled(FeatureGate::InstanceConditionEvents));
        assert_eq!(
            gates.to_string(),
            "CELOmitFunction=true,InstanceConditionEvents=false,InstanceConditionMetrics=true"
        );
    }

    #[test]
    fn later_entries_win() {
        let gates: FeatureGates = "CELOmitFunction=true,CELOmitFunction=false"
            .parse()
            .expect("valid");
        assert!(!gates.enabled(FeatureGate::CelOmitFunction));
    }

    #[test]
    fn all_alpha_switches_the_gates_not_named_in_any_order() {
        let gates: FeatureGates = "AllAlpha=true".parse().expect("valid");
        for gate in FeatureGate::ALL {
            assert!(gates.enabled(gate), "{gate}");
        }
        for list in [
            "AllAlpha=true,CELOmitFunction=false",
            "CELOmitFunction=false,AllAlpha=true",
        ] {
            let gates: FeatureGates = list.parse().expect("valid");
            assert!(!gates.enabled(FeatureGate::CelOmitFunction), "{list}");
            assert!(
                gates.enabled(FeatureGate::InstanceConditionEvents),
                "{list}"
            );
            assert!(
                gates.enabled(FeatureGate::InstanceConditionMetrics),
                "{list}"
            );
        }
        let gates: FeatureGates = "AllAlpha=false,InstanceConditionEvents=true"
            .parse()
            .expect("valid");
        assert!(gates.enabled(FeatureGate::InstanceConditionEvents));
        assert!(!gates.enabled(FeatureGate::CelOmitFunction));
        assert_eq!(
            gates.to_string(),
            "AllAlpha=false,InstanceConditionEvents=true"
        );
    }

    #[test]
    fn all_beta_is_accepted_and_switches_no_alpha_gate() {
        let gates: FeatureGates = "AllBeta=true".parse().expect("valid");
        for gate in FeatureGate::ALL {
            assert!(!gates.enabled(gate), "{gate}");
        }
        assert_eq!(gates.to_string(), "AllBeta=true");
    }

    #[test]
    fn rejects_unknown_gate_missing_value_and_bad_bool() {
        assert_eq!(
            "NoSuchGate=true".parse::<FeatureGates>(),
            Err(FeatureGateError::Unknown {
                name: "NoSuchGate".into()
            })
        );
        assert_eq!(
            "CELOmitFunction".parse::<FeatureGates>(),
            Err(FeatureGateError::MissingValue {
                entry: "CELOmitFunction".into()
            })
        );
        assert_eq!(
            "CELOmitFunction=yes".parse::<FeatureGates>(),
            Err(FeatureGateError::NotABool {
                name: "CELOmitFunction".into(),
                value: "yes".into()
            })
        );
    }
}
