//! What pushes tell us about a follower (followed, left, interacted, was somewhere), and how a
//! batch of such facts folds into one change per follower, so the store writes each follower
//! once per batch instead of once per push.

use std::collections::HashMap;

/// One fact from one push, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowerFact {
    /// Any interaction: the 48-hour customer-service window restarts.
    Interacted {
        /// The follower.
        openid: String,
        /// When (UTC ms).
        at: i64,
    },
    /// `subscribe`: follows (again); also an interaction.
    Subscribed {
        /// The follower.
        openid: String,
        /// When (UTC ms).
        at: i64,
    },
    /// `unsubscribe`: recorded, and not an interaction (nothing may be sent afterwards).
    Unsubscribed {
        /// The follower.
        openid: String,
        /// When (UTC ms).
        at: i64,
    },
    /// A LOCATION event or a sent location (GCJ-02); also an interaction.
    Located {
        /// The follower.
        openid: String,
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// When (UTC ms).
        at: i64,
    },
}

impl FollowerFact {
    /// Whose fact it is.
    pub fn openid(&self) -> &str {
        match self {
            Self::Interacted { openid, .. }
            | Self::Subscribed { openid, .. }
            | Self::Unsubscribed { openid, .. }
            | Self::Located { openid, .. } => openid,
        }
    }
}

/// Following or not, since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Followed at (UTC ms).
    Followed(i64),
    /// Left at (UTC ms).
    Left(i64),
}

/// The net change to one follower's row: `None` fields stay as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowerChange {
    /// The follower.
    pub openid: String,
    /// The latest follow or unfollow in the batch.
    pub subscription: Option<Subscription>,
    /// The latest interaction in the batch.
    pub last_interaction_at: Option<i64>,
    /// The latest location in the batch: (latitude, longitude, at).
    pub location: Option<(f64, f64, i64)>,
}

impl FollowerChange {
    /// Whether a follower first seen through this change follows: only an unfollow says not.
    pub fn follows_when_new(&self) -> bool {
        !matches!(self.subscription, Some(Subscription::Left(_)))
    }
}

/// Folds facts (in arrival order) into one change per follower, in order of first appearance.
/// Later facts win, as if each had been written on its own in that order.
pub fn fold(facts: impl IntoIterator<Item = FollowerFact>) -> Vec<FollowerChange> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut changes: Vec<FollowerChange> = Vec::new();
    for fact in facts {
        let i = *index.entry(fact.openid().to_owned()).or_insert_with(|| {
            changes.push(FollowerChange {
                openid: fact.openid().to_owned(),
                subscription: None,
                last_interaction_at: None,
                location: None,
            });
            changes.len() - 1
        });
        let change = &mut changes[i];
        match fact {
            FollowerFact::Interacted { at, .. } => change.last_interaction_at = Some(at),
            FollowerFact::Subscribed { at, .. } => {
                change.subscription = Some(Subscription::Followed(at));
                change.last_interaction_at = Some(at);
            }
            FollowerFact::Unsubscribed { at, .. } => change.subscription = Some(Subscription::Left(at)),
            FollowerFact::Located { latitude, longitude, at, .. } => {
                change.location = Some((latitude, longitude, at));
                change.last_interaction_at = Some(at);
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interacted(openid: &str, at: i64) -> FollowerFact {
        FollowerFact::Interacted { openid: openid.into(), at }
    }

    #[test]
    fn facts_of_one_follower_fold_into_one_change_with_the_latest_of_each() {
        let changes = fold([
            FollowerFact::Subscribed { openid: "a".into(), at: 1 },
            interacted("b", 2),
            FollowerFact::Located { openid: "a".into(), latitude: 30.6, longitude: 104.0, at: 3 },
            interacted("a", 4),
            FollowerFact::Located { openid: "a".into(), latitude: 30.7, longitude: 104.1, at: 5 },
        ]);
        assert_eq!(
            changes,
            [
                FollowerChange {
                    openid: "a".into(),
                    subscription: Some(Subscription::Followed(1)),
                    last_interaction_at: Some(5),
                    location: Some((30.7, 104.1, 5)),
                },
                FollowerChange { openid: "b".into(), subscription: None, last_interaction_at: Some(2), location: None },
            ]
        );
    }

    #[test]
    fn an_unfollow_is_not_an_interaction_and_the_last_of_follow_and_unfollow_wins() {
        let left = fold([interacted("a", 1), FollowerFact::Unsubscribed { openid: "a".into(), at: 2 }]);
        assert_eq!(left[0].subscription, Some(Subscription::Left(2)));
        assert_eq!(left[0].last_interaction_at, Some(1));
        assert!(!left[0].follows_when_new());
        let back = fold([
            FollowerFact::Unsubscribed { openid: "a".into(), at: 2 },
            FollowerFact::Subscribed { openid: "a".into(), at: 3 },
        ]);
        assert_eq!(back[0].subscription, Some(Subscription::Followed(3)));
        assert!(back[0].follows_when_new());
    }
}
