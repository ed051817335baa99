//! What a customer app sends to `/context/{user_id}/…`, and the ids in the path.
//!
//! Input: one letter choosing the endpoint, then its body:
//! `s` screen (`name \0 metadata JSON`), `c` cart JSON, `p` profile JSON, `f` friction-signal
//! JSON, `o` order id; anything else is an id from a URL path.
#![no_main]

use chrono::{DateTime, TimeDelta, Utc};
use domain::context::{
    self, CartInput, CartUpdate, ContextSettings, CustomerContext, FrictionSignal, ProfileInput, ProfileUpdate,
    ScreenView, SignalInput,
};
use domain::friction::{self, FrictionSettings};
use domain::ids::{ConversationId, TenantSlug, UserId};
use domain::money::Currency;
use domain::routing::{self, RoutingSettings};
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let currency = Currency::INR;
    let settings = ContextSettings::default();
    let Ok(user) = UserId::parse("fuzz-user") else {
        return;
    };
    let Some(start) = DateTime::<Utc>::from_timestamp(1_750_000_000, 0) else {
        return;
    };
    let now = start + TimeDelta::seconds(90);
    // A context with a session on CHECKOUT, so updates also exercise the running state.
    let Ok(checkout) = ScreenView::new("checkout", false) else {
        return;
    };
    let old = context::apply_screen(None, &user, &checkout, start, &settings);

    let updated = match kind {
        b's' => {
            let [name, metadata] = fields::<2>(body);
            // No metadata field (a `?screen_name=` request) is `None`.
            let metadata = match metadata {
                [] => None,
                json => match serde_json::from_slice::<Option<serde_json::Value>>(json) {
                    Ok(metadata) => metadata,
                    Err(_) => return,
                },
            };
            let Ok(view) = ScreenView::parse(&text(name), metadata) else {
                return;
            };
            check_normalised(view.screen_name());
            context::apply_screen(Some(old), &user, &view, now, &settings)
        }
        b'c' => {
            let Ok(input) = serde_json::from_slice::<CartInput>(body) else {
                return;
            };
            let Ok(update) = CartUpdate::parse(input, currency) else {
                return;
            };
            assert!(!update.cart_value().is_negative());
            context::apply_cart(Some(old), &user, &update, now, &settings)
        }
        b'p' => {
            let Ok(input) = serde_json::from_slice::<ProfileInput>(body) else {
                return;
            };
            let Ok(update) = ProfileUpdate::parse(input, currency) else {
                return;
            };
            context::apply_profile(Some(old), &user, &update, now)
        }
        b'f' => {
            let Ok(input) = serde_json::from_slice::<SignalInput>(body) else {
                return;
            };
            let Ok(signal) = FrictionSignal::parse(input) else {
                return;
            };
            if let Some(screen) = &signal.screen {
                check_normalised(screen);
            }
            context::apply_signal(Some(old), &user, &signal, now, &settings)
        }
        b'o' => context::apply_order(Some(old), &user, Some(&text(body)), now),
        _ => {
            check_ids(&text(body));
            return;
        }
    };
    check_context(&updated, now, currency);
});

/// A stored screen name is its own normal form, within the input limit.
fn check_normalised(screen: &str) {
    assert_eq!(
        context::normalize_screen("screen", screen).as_deref(),
        Ok(screen),
        "stored screen {screen:?} is not normalised"
    );
}

fn check_context(ctx: &CustomerContext, now: DateTime<Utc>, currency: Currency) {
    assert!(ctx.session.is_some());
    if let Some(screen) = ctx.current_screen() {
        check_normalised(screen);
    }
    // Stored values respect the limits their inputs were checked against.
    if let Some(event_type) = &ctx.cart.event_type {
        assert_eq!(event_type.to_uppercase(), *event_type);
        assert!(event_type.chars().count() <= 100, "event_type {event_type:?}");
    }
    if let Some(tier) = &ctx.profile.tier {
        assert_eq!(tier.to_uppercase(), *tier);
        assert!(tier.chars().count() <= 50, "tier {tier:?}");
    }
    let score = friction::score(ctx, now, &FrictionSettings::default());
    assert!(score.score <= 100);
    let _ = context::agent_properties(ctx, &score, currency);
    let _ = serde_json::to_string(&ctx.view(now, currency)).expect("the view serialises");
    let _ = routing::route(
        ctx.cart.cart_value,
        ctx.cart.event_type.as_deref(),
        &RoutingSettings::default(),
    );
    // The context is stored as JSON and must load back as it was.
    let stored = serde_json::to_string(ctx).expect("the context serialises");
    let loaded: CustomerContext = serde_json::from_str(&stored).expect("a stored context loads back");
    assert_eq!(&loaded, ctx);
}

fn check_ids(path: &str) {
    if let Ok(id) = UserId::parse(path) {
        assert_eq!(id.as_str(), path);
        assert!(path.chars().count() <= UserId::MAX_LEN && path.trim() == path);
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(serde_json::from_str::<UserId>(&json).ok(), Some(id));
    }
    if let Ok(id) = ConversationId::parse(path) {
        assert!(!id.as_str().is_empty());
    }
    if let Ok(slug) = TenantSlug::parse(path) {
        assert!(
            slug.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
    }
}
