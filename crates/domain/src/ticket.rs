//! What a helpdesk ticket for an incidence says (§3): subject, description, priority, tags,
//! custom field values and the requester. Pure: the shell maps this onto Freshdesk's API.

use std::fmt::Write;

use crate::incidence::{Incidence, Stage};
use crate::money::{Currency, Money};
use crate::routing::{Priority, RoutingSettings};

/// Tags Switchboard itself puts on tickets; they are not resolution labels.
pub const TAG_CHAT: &str = "chat";
pub const TAG_HIGH_VALUE: &str = "high_value";

/// The customer's context as ticket custom field values. Number fields are integers: Freshdesk
/// refuses a float in a number field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketFields {
    pub friction_score: i64,
    /// Whole major units (rupees), truncated.
    pub cart_value: i64,
    pub guest_count: Option<i64>,
    pub order_stage: String,
    pub conversation_id: String,
}

/// Who the ticket is from, by the first identity Freshdesk accepts (§3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    Email {
        email: String,
        name: Option<String>,
    },
    /// Freshdesk requires a name with a phone-only requester.
    Phone {
        phone: String,
        name: String,
    },
    External {
        id: String,
        name: Option<String>,
    },
}

/// What is known of the customer to name them on the ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerIdentity {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    /// The tenant's user id, else the chat provider's user id.
    pub external_id: String,
}

impl Requester {
    /// E-mail, else phone with a name, else the external id.
    pub fn for_customer(c: &CustomerIdentity) -> Requester {
        let name = c.name.as_ref().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if let Some(email) = c.email.as_ref().map(|e| e.trim()).filter(|e| e.contains('@')) {
            return Requester::Email {
                email: email.to_owned(),
                name,
            };
        }
        if let Some(phone) = c
            .phone
            .as_ref()
            .map(|p| p.trim())
            .filter(|p| p.chars().filter(char::is_ascii_digit).count() >= 6)
        {
            let name = name.unwrap_or_else(|| format!("Customer {}", c.external_id));
            return Requester::Phone {
                phone: phone.to_owned(),
                name,
            };
        }
        Requester::External {
            id: c.external_id.clone(),
            name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketDraft {
    pub subject: String,
    pub description_html: String,
    /// Freshdesk priority code 1–4.
    pub priority: u8,
    pub tags: Vec<String>,
    pub fields: TicketFields,
    pub requester: Requester,
}

/// The live values a ticket shows, from the customer's current context when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveValues {
    pub app_screen: String,
    pub cart_value: Money,
    pub guest_count: Option<u32>,
    pub event_type: Option<String>,
    pub friction_score: u8,
}

/// Custom field values: the live context if given, else the context at the start.
pub fn fields(inc: &Incidence, live: Option<&LiveValues>, currency: Currency) -> TicketFields {
    let start = inc.start_context();
    let (cart, guests, friction) = match (live, start) {
        (Some(l), _) => (l.cart_value, l.guest_count, l.friction_score),
        (None, Some(s)) => (s.cart_value, s.guest_count, s.friction_score),
        (None, None) => (Money::ZERO, None, 0),
    };
    TicketFields {
        friction_score: i64::from(friction),
        cart_value: cart.whole_major_units(currency),
        guest_count: guests.map(i64::from),
        order_stage: inc.stage().as_str().to_owned(),
        conversation_id: inc.conversation_id.as_str().to_owned(),
    }
}

/// The ticket for an incidence whose first customer message is `first_message`.
pub fn draft(
    inc: &Incidence,
    first_message: &str,
    customer: &CustomerIdentity,
    currency: Currency,
    routing: &RoutingSettings,
    friction_threshold: u8,
) -> TicketDraft {
    let start = inc.start_context();
    let priority = inc.priority(routing);
    let friction = start.map_or(0, |s| s.friction_score);
    let cart = start.map_or(Money::ZERO, |s| s.cart_value);

    let mut tags = vec![TAG_CHAT.to_owned()];
    if priority >= Priority::High {
        tags.push(TAG_HIGH_VALUE.to_owned());
    }
    if let Some(event) = start.and_then(|s| s.event_type.as_ref()) {
        tags.push(event.to_lowercase());
    }

    let stage = match inc.stage() {
        Stage::PreOrder => "Pre-order",
        Stage::PostOrder => "Post-order",
    };
    let subject = truncate(
        &format!(
            "{stage} chat · {} {} cart · {}",
            currency,
            grouped(cart, currency),
            first_words(first_message, 60)
        ),
        250,
    );

    TicketDraft {
        subject,
        description_html: description(inc, first_message, customer, currency, priority),
        priority: priority.freshdesk_code(friction >= friction_threshold),
        tags,
        fields: fields(inc, None, currency),
        requester: Requester::for_customer(customer),
    }
}

fn description(
    inc: &Incidence,
    message: &str,
    customer: &CustomerIdentity,
    currency: Currency,
    priority: Priority,
) -> String {
    let mut html = format!("<p>{}</p>\n", escape_html(message).replace('\n', "<br>"));
    let start = inc.start_context();
    let mut rows: Vec<(&str, String)> = vec![
        (
            "Customer",
            customer.name.clone().unwrap_or_else(|| customer.external_id.clone()),
        ),
        ("Order stage", inc.stage().as_str().to_owned()),
        ("Priority", priority.as_str().to_owned()),
    ];
    if let Some(s) = start {
        rows.push(("Screen", s.app_screen.clone()));
        rows.push((
            "Cart value",
            format!("{} {}", currency, grouped(s.cart_value, currency)),
        ));
        rows.push(("Friction score", s.friction_score.to_string()));
        if let Some(g) = s.guest_count {
            rows.push(("Guest count", g.to_string()));
        }
        if let Some(e) = &s.event_type {
            rows.push(("Event type", e.clone()));
        }
        if let Some(o) = &s.order_id {
            rows.push(("Order", o.clone()));
        }
    }
    rows.push(("Chat conversation", inc.conversation_id.as_str().to_owned()));
    html.push_str("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            html,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(k),
            escape_html(&v)
        );
    }
    html.push_str("</table>");
    html
}

/// `12500` → `12,500`; `1234567.5` → `1,234,567.5` (groups of three; a display, not a locale).
fn grouped(amount: Money, currency: Currency) -> String {
    let text = amount.to_decimal_string(currency);
    let (sign, rest) = text.strip_prefix('-').map_or(("", text.as_str()), |r| ("-", r));
    let (whole, frac) = rest.split_once('.').map_or((rest, None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

fn first_words(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A customer's chat message as a ticket note body.
pub fn note_html(message: &str) -> String {
    format!("<p>{}</p>", escape_html(message).replace('\n', "<br>"))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::ids::{ConversationId, IncidenceId};
    use crate::incidence::{Actor, Channel, ConversationEvent, EventKind, StartContext, apply};

    fn incidence(cart_minor: i64, event: Option<&str>, friction: u8, order: Option<&str>) -> Incidence {
        let e = ConversationEvent {
            at: Utc.timestamp_opt(1_700_000_000, 0).single().expect("time"),
            key: "m1".into(),
            kind: EventKind::Message {
                actor: Actor::User,
                text: "hi".into(),
                private: false,
                agent_id: None,
            },
            context: Some(StartContext {
                app_screen: "GUEST_COUNT".into(),
                cart_value: Money::from_minor(cart_minor),
                guest_count: Some(120),
                event_type: event.map(str::to_owned),
                friction_score: friction,
                order_id: order.map(str::to_owned),
                help_prompt_accepted: false,
            }),
            identity: None,
        };
        let conv = ConversationId::parse("c-77").expect("id");
        apply(None, &e, Channel::InAppChat, &conv, IncidenceId(Uuid::from_u128(1))).incidence
    }

    fn customer() -> CustomerIdentity {
        CustomerIdentity {
            email: Some("asha@example.com".into()),
            phone: None,
            name: Some("Asha".into()),
            external_id: "u-1".into(),
        }
    }

    #[test]
    fn priority_follows_routing_and_friction() {
        let r = RoutingSettings::default();
        let code =
            |cart, ev, fr| draft(&incidence(cart, ev, fr, None), "x", &customer(), Currency::INR, &r, 60).priority;
        assert_eq!(code(100_000, None, 0), 1, "₹1,000: NONE → Low");
        assert_eq!(code(1_000_000, None, 0), 2, "₹10,000: NORMAL → Medium");
        assert_eq!(code(3_000_000, None, 59), 3, "₹30,000: HIGH → High");
        assert_eq!(
            code(3_000_000, None, 60),
            4,
            "HIGH with friction at the threshold → Urgent"
        );
        assert_eq!(
            code(100_000, Some("WEDDING"), 70),
            4,
            "a wedding is HIGH whatever the value"
        );
    }

    #[test]
    fn fields_are_integers_and_tags_say_why() {
        let inc = incidence(1_249_999, Some("WEDDING"), 65, Some("ord-1"));
        let d = draft(
            &inc,
            "Need help choosing portions for 120 guests please",
            &customer(),
            Currency::INR,
            &RoutingSettings::default(),
            60,
        );
        assert_eq!(
            d.fields,
            TicketFields {
                friction_score: 65,
                cart_value: 12_499,
                guest_count: Some(120),
                order_stage: "POST_ORDER".into(),
                conversation_id: "c-77".into()
            }
        );
        assert_eq!(d.tags, vec!["chat", "high_value", "wedding"]);
        assert!(
            d.subject
                .starts_with("Post-order chat · INR 12,499.99 cart · Need help"),
            "{}",
            d.subject
        );
        assert!(
            d.description_html
                .contains("<th align=\"left\">Guest count</th><td>120</td>")
        );
    }

    #[test]
    fn the_description_escapes_the_customer_text() {
        let d = draft(
            &incidence(0, None, 0, None),
            "<script>x</script> & \"quotes\"",
            &customer(),
            Currency::INR,
            &RoutingSettings::default(),
            60,
        );
        assert!(
            d.description_html
                .starts_with("<p>&lt;script&gt;x&lt;/script&gt; &amp; &quot;quotes&quot;</p>")
        );
        assert!(!d.description_html.contains("<script>"));
        assert_eq!(note_html("a\nb <b>"), "<p>a<br>b &lt;b&gt;</p>");
    }

    #[test]
    fn requester_by_email_then_phone_then_id() {
        assert!(matches!(Requester::for_customer(&customer()), Requester::Email { .. }));
        let phone_only = CustomerIdentity {
            email: None,
            phone: Some("+919876543210".into()),
            name: None,
            external_id: "u-9".into(),
        };
        assert_eq!(
            Requester::for_customer(&phone_only),
            Requester::Phone {
                phone: "+919876543210".into(),
                name: "Customer u-9".into()
            }
        );
        let nothing = CustomerIdentity {
            email: Some("not-an-email".into()),
            phone: Some("12".into()),
            name: None,
            external_id: "u-9".into(),
        };
        assert_eq!(
            Requester::for_customer(&nothing),
            Requester::External {
                id: "u-9".into(),
                name: None
            }
        );
    }

    #[test]
    fn subjects_are_short() {
        let long = "word ".repeat(200);
        let d = draft(
            &incidence(0, None, 0, None),
            &long,
            &customer(),
            Currency::INR,
            &RoutingSettings::default(),
            60,
        );
        assert!(d.subject.chars().count() <= 250);
        assert!(d.subject.ends_with('…'));
        assert_eq!(grouped(Money::from_minor(123_456_789), Currency::INR), "1,234,567.89");
        assert_eq!(grouped(Money::from_minor(-50_000), Currency::INR), "-500");
    }

    #[test]
    fn live_values_override_the_start() {
        let inc = incidence(100_000, None, 10, None);
        let live = LiveValues {
            app_screen: "CHECKOUT".into(),
            cart_value: Money::from_minor(5_000_050),
            guest_count: Some(200),
            event_type: None,
            friction_score: 70,
        };
        let f = fields(&inc, Some(&live), Currency::INR);
        assert_eq!((f.cart_value, f.guest_count, f.friction_score), (50_000, Some(200), 70));
    }
}
