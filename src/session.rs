//! One run's setup, built once from a suite and its parameters and shared by every mode
//! (broker runner, emulator and device mode, capture, replay): the variables the suite's
//! text is interpolated with, the auth scheme with its interpolated parameters, the
//! identity the platform knows, the credentials a client presents, and the judge built
//! from them.

use crate::auth::suite_params::{self, Values};
use crate::auth::{Identity, Scheme};
use crate::judge::{AuthCheck, Judge};
use crate::suite::vars::Vars;
use crate::suite::{ParamValues, Suite};
use std::str::FromStr;

/// A suite's parameters made ready for a run.
#[derive(Debug, Clone)]
pub struct Session {
    /// The parameters (and any built-ins the mode added) as variables.
    pub vars: Vars,
    /// The suite's auth scheme and its interpolated parameters, when it has one.
    pub auth: Option<(Scheme, Values)>,
}

/// The credentials a client of the suite presents unless a step says otherwise.
#[derive(Debug, Clone, Default)]
pub struct DefaultCredentials {
    /// Client identifier.
    pub client_id: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl Session {
    /// The session of `suite` with `params` as its variables.
    pub fn new(suite: &Suite, params: &ParamValues) -> Result<Self, String> {
        Self::with_vars(suite, vars_of(params))
    }

    /// The session of `suite` with `vars` (parameters plus a mode's built-ins, e.g. the
    /// run token a broker run's topics carry).
    pub fn with_vars(suite: &Suite, vars: Vars) -> Result<Self, String> {
        let auth = auth_values(suite, &vars)?;
        Ok(Self { vars, auth })
    }

    /// What the platform knows of its devices (every identity of the suite's
    /// `auth.identities` besides the main one): what a server accepts.
    pub fn identity(&self) -> Result<Option<Identity>, String> {
        self.auth
            .as_ref()
            .map(|(scheme, values)| suite_params::identity(*scheme, values))
            .transpose()
    }

    /// The judge's credential check: the scheme, and the identity when it can be built (an
    /// identity that cannot leaves only the format to check).
    pub fn auth_check(&self) -> Option<AuthCheck> {
        self.auth.as_ref().map(|(scheme, values)| AuthCheck {
            scheme: *scheme,
            identity: suite_params::identity(*scheme, values).ok(),
        })
    }

    /// A judge of `suite`'s rules with this session's variables and credential check.
    pub fn judge(&self, suite: &Suite) -> Result<Judge, String> {
        Judge::new(suite, self.vars.clone(), self.auth_check())
    }

    /// The credentials the suite's auth scheme produces from its parameters. A suite
    /// without a scheme (the baselines) logs in with its `username` and `password`
    /// parameters when they are set, as a broker that requires credentials needs.
    pub fn credentials(&self, suite: &Suite) -> Result<DefaultCredentials, String> {
        let Some((scheme, values)) = &self.auth else {
            let declared = |name: &str| {
                suite
                    .params
                    .contains_key(name)
                    .then(|| self.vars.get(name).map(str::to_owned))
                    .flatten()
            };
            return Ok(DefaultCredentials {
                client_id: None,
                username: declared("username"),
                password: declared("password"),
            });
        };
        DefaultCredentials::produce(*scheme, values)
    }
}

impl DefaultCredentials {
    /// The credentials `scheme` produces from these (interpolated) parameters.
    pub fn produce(scheme: Scheme, values: &Values) -> Result<Self, String> {
        let creds = suite_params::client_params(scheme, values)?
            .credentials()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client_id: Some(creds.client_id).filter(|c| !c.is_empty()),
            username: creds.username,
            password: creds.password.map(|p| p.expose().to_owned()),
        })
    }
}

/// `params` as variables.
pub fn vars_of(params: &ParamValues) -> Vars {
    let mut vars = Vars::new();
    for (k, v) in &params.values {
        vars.set(k.clone(), v.clone());
    }
    vars
}

/// The suite's `auth.params`, interpolated; a further identity whose parameters are not
/// all set (optional ones) is left out.
fn auth_values(suite: &Suite, vars: &Vars) -> Result<Option<(Scheme, Values)>, String> {
    let Some(auth) = &suite.auth else {
        return Ok(None);
    };
    let scheme = Scheme::from_str(&auth.scheme.value).map_err(|e| e.to_string())?;
    let mut values = Values::new();
    let mut incomplete = std::collections::BTreeSet::new();
    for (k, v) in &auth.params {
        match vars.interpolate(v) {
            Ok(value) => {
                values.insert(k.clone(), value);
            }
            Err(e) => match suite_params::identity_index(k) {
                Some(n) => {
                    incomplete.insert(n);
                }
                None => return Err(e),
            },
        }
    }
    values.retain(|k, _| suite_params::identity_index(k).is_none_or(|n| !incomplete.contains(&n)));
    Ok(Some((scheme, values)))
}
