//! Configuration of the Kubernetes checks: which Pod Security Standards profile applies.

/// The Pod Security Standards profile to enforce. Checks outside the PSS (zero trust) always run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Only the baseline controls.
    Baseline,
    /// Baseline and restricted controls.
    #[default]
    Restricted,
}

impl Profile {
    /// Does this profile include a check tagged with `profile`?
    pub(crate) fn includes(self, profile: Option<&str>) -> bool {
        !matches!((self, profile), (Profile::Baseline, Some("restricted")))
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "baseline" => Ok(Profile::Baseline),
            "restricted" => Ok(Profile::Restricted),
            o => Err(format!("unknown profile {o:?} (baseline, restricted)")),
        }
    }
}
