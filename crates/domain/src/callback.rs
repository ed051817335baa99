//! Callback requests (SPEC §7): a customer asks to be called; staff claim, complete or cancel.
//!
//! ```text
//! pending ──claim──▶ claimed ──complete──▶ completed
//!    │                  │
//!    └────cancel────────┴──────────────▶ cancelled
//! ```
//! A pending request may also be completed directly (the call was made without claiming).
//! Repeating the transition that led to the current state is a no-op (a retried request
//! succeeds); everything else is refused. Claiming a request someone else holds is refused.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    Pending,
    Claimed,
    Completed,
    Cancelled,
}

impl CallbackState {
    pub const ALL: [CallbackState; 4] = [
        CallbackState::Pending,
        CallbackState::Claimed,
        CallbackState::Completed,
        CallbackState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackState::Pending => "pending",
            CallbackState::Claimed => "claimed",
            CallbackState::Completed => "completed",
            CallbackState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<CallbackState> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CallbackState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackAction {
    /// Take the request; `by` names who will call.
    Claim {
        by: String,
    },
    Complete,
    Cancel,
}

impl CallbackAction {
    pub fn name(&self) -> &'static str {
        match self {
            CallbackAction::Claim { .. } => "claim",
            CallbackAction::Complete => "complete",
            CallbackAction::Cancel => "cancel",
        }
    }

    fn done(&self) -> &'static str {
        match self {
            CallbackAction::Claim { .. } => "claimed",
            CallbackAction::Complete => "completed",
            CallbackAction::Cancel => "cancelled",
        }
    }
}

/// The result of an allowed action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    To(CallbackState),
    /// Already done: nothing changes.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a {state} request cannot be {action}")]
    NotAllowed { state: CallbackState, action: &'static str },
    #[error("the request is already claimed by {by}")]
    ClaimedByOther { by: String },
}

/// Decides what `action` does to a request in `state`, claimed by `claimed_by`.
pub fn transition(
    state: CallbackState,
    claimed_by: Option<&str>,
    action: &CallbackAction,
) -> Result<Transition, TransitionError> {
    use CallbackState::{Cancelled, Claimed, Completed, Pending};
    let refuse = || TransitionError::NotAllowed {
        state,
        action: action.done(),
    };
    match (state, action) {
        (Pending, CallbackAction::Claim { .. }) => Ok(Transition::To(Claimed)),
        (Claimed, CallbackAction::Claim { by }) if claimed_by == Some(by.as_str()) => Ok(Transition::Unchanged),
        (Claimed, CallbackAction::Claim { .. }) => Err(TransitionError::ClaimedByOther {
            by: claimed_by.unwrap_or("someone else").to_owned(),
        }),
        (Pending | Claimed, CallbackAction::Complete) => Ok(Transition::To(Completed)),
        (Pending | Claimed, CallbackAction::Cancel) => Ok(Transition::To(Cancelled)),
        (Completed, CallbackAction::Complete) | (Cancelled, CallbackAction::Cancel) => Ok(Transition::Unchanged),
        (Completed | Cancelled, _) => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallbackState::*;

    type Case = (
        CallbackState,
        Option<&'static str>,
        CallbackAction,
        Result<Transition, &'static str>,
    );

    fn claim(by: &str) -> CallbackAction {
        CallbackAction::Claim { by: by.to_owned() }
    }

    #[test]
    fn every_state_and_action() {
        let cases: Vec<Case> = vec![
            (Pending, None, claim("asha"), Ok(Transition::To(Claimed))),
            (Pending, None, CallbackAction::Complete, Ok(Transition::To(Completed))),
            (Pending, None, CallbackAction::Cancel, Ok(Transition::To(Cancelled))),
            (Claimed, Some("asha"), claim("asha"), Ok(Transition::Unchanged)),
            (Claimed, Some("asha"), claim("ravi"), Err("already claimed by asha")),
            (
                Claimed,
                Some("asha"),
                CallbackAction::Complete,
                Ok(Transition::To(Completed)),
            ),
            (
                Claimed,
                Some("asha"),
                CallbackAction::Cancel,
                Ok(Transition::To(Cancelled)),
            ),
            (
                Completed,
                Some("asha"),
                claim("asha"),
                Err("a completed request cannot be claimed"),
            ),
            (Completed, None, CallbackAction::Complete, Ok(Transition::Unchanged)),
            (
                Completed,
                None,
                CallbackAction::Cancel,
                Err("a completed request cannot be cancelled"),
            ),
            (
                Cancelled,
                None,
                claim("asha"),
                Err("a cancelled request cannot be claimed"),
            ),
            (
                Cancelled,
                None,
                CallbackAction::Complete,
                Err("a cancelled request cannot be completed"),
            ),
            (Cancelled, None, CallbackAction::Cancel, Ok(Transition::Unchanged)),
        ];
        for (state, by, action, want) in cases {
            let got = transition(state, by, &action).map_err(|e| e.to_string());
            match want {
                Ok(t) => assert_eq!(got, Ok(t), "{state} {action:?}"),
                Err(text) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(text)),
                    "{state} {action:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn states_round_trip() {
        for s in CallbackState::ALL {
            assert_eq!(CallbackState::parse(s.as_str()), Some(s));
        }
        assert_eq!(CallbackState::parse("PENDING"), None);
    }
}
