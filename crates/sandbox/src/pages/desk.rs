//! `/desk`: a helpdesk agent's view of the Freshdesk fake — ticket list, ticket with its
//! description, custom fields and conversations, a reply form and a status selector. Replying
//! and changing status here fire the automation webhooks, like the real agent UI.

use std::fmt::Write;

use axum::Form;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{layout, mount_prefix};
use crate::freshdesk::model::{SOURCE_REPLY, priority_name};
use crate::html::{escape, from_typed_text};
use crate::{Sandbox, lock, timestamps};

pub(super) async fn list(State(sb): State<Sandbox>, OriginalUri(original): OriginalUri, uri: Uri) -> Response {
    let prefix = escape(&mount_prefix(&original, &uri));
    let store = lock(&sb.inner.freshdesk);
    let mut rows = String::new();
    for t in store.tickets().rev() {
        let requester = store
            .contact(t.requester_id)
            .map(|c| c.email.clone().unwrap_or_else(|| c.name.clone()))
            .unwrap_or_default();
        let _ = write!(
            rows,
            "<tr><td><a href=\"{prefix}/desk/tickets/{id}\">#{id}</a></td><td>{subject}</td>\
             <td>{status}</td><td class=\"hide-small\">{priority}</td><td class=\"hide-small\">{requester}</td></tr>",
            id = t.id,
            subject = escape(t.subject.as_deref().unwrap_or("(no subject)")),
            status = escape(store.status_name(t.status)),
            priority = priority_name(t.priority),
            requester = escape(&requester),
        );
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No tickets yet.</td></tr>");
    }
    let body = format!(
        "<table><thead><tr><th>Id</th><th>Subject</th><th>Status</th>\
         <th class=\"hide-small\">Priority</th><th class=\"hide-small\">Requester</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    );
    layout("Helpdesk", &body).into_response()
}

pub(super) async fn ticket(
    State(sb): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(id): Path<u64>,
) -> Response {
    let prefix = escape(&mount_prefix(&original, &uri));
    let store = lock(&sb.inner.freshdesk);
    let Some(t) = store.ticket(id) else {
        return (StatusCode::NOT_FOUND, layout("Not found", "<p>No such ticket.</p>")).into_response();
    };
    let requester = store.contact(t.requester_id);
    let mut fields = String::new();
    for (name, value) in &t.custom_fields {
        let shown = match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(fields, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(&shown));
    }
    let mut thread = String::new();
    for c in store.conversations(id) {
        let kind = match (c.source == SOURCE_REPLY, c.private, c.incoming) {
            (true, _, _) => "reply",
            (false, true, _) => "private note",
            (false, false, true) => "customer note",
            (false, false, false) => "public note",
        };
        let author = store
            .agent(c.user_id)
            .map(|a| a.name.clone())
            .or_else(|| store.contact(c.user_id).map(|p| p.name.clone()))
            .unwrap_or_else(|| c.user_id.to_string());
        let class = if c.private {
            "private"
        } else if c.incoming {
            "incoming"
        } else {
            ""
        };
        let _ = write!(
            thread,
            "<div class=\"card {class}\"><div class=\"meta\">{kind} · {author} · {time}</div>\
             <div class=\"text\">{body}</div></div>",
            author = escape(&author),
            time = timestamps::seconds(c.created_at),
            body = escape(&c.body_text),
        );
    }
    let statuses: String = store
        .statuses
        .iter()
        .map(|s| {
            let selected = if s.code == t.status { " selected" } else { "" };
            format!("<option value=\"{}\"{selected}>{}</option>", s.code, escape(&s.name))
        })
        .collect();
    let agents: String = store
        .agents()
        .iter()
        .map(|a| {
            let selected = if Some(a.id) == t.responder_id { " selected" } else { "" };
            format!(
                "<option value=\"{e}\"{selected}>{n}</option>",
                e = escape(&a.email),
                n = escape(&a.name)
            )
        })
        .collect();
    let body = format!(
        "<p><a href=\"{prefix}/desk\">← all tickets</a></p>\
         <div class=\"card\"><h2>#{id} {subject}</h2>\
         <p class=\"meta\">{status} · {priority} · requester {requester} · tags {tags}</p>\
         <div class=\"text\">{description}</div></div>\
         <table>{fields}</table>\
         <h3>Conversation</h3>{thread}\
         <form class=\"card\" method=\"post\" action=\"{prefix}/desk/tickets/{id}/reply\">\
         <label>Reply as <select name=\"agent_email\">{agents}</select></label>\
         <textarea name=\"body\" required placeholder=\"Write a public reply\"></textarea>\
         <button>Send reply</button></form>\
         <form class=\"card row\" method=\"post\" action=\"{prefix}/desk/tickets/{id}/status\">\
         <select name=\"status\">{statuses}</select><button>Set status</button></form>",
        subject = escape(t.subject.as_deref().unwrap_or("(no subject)")),
        status = escape(store.status_name(t.status)),
        priority = priority_name(t.priority),
        requester = escape(
            &requester
                .map(|c| format!("{} {}", c.name, c.email.clone().unwrap_or_default()))
                .unwrap_or_default()
        ),
        tags = escape(&t.tags.join(", ")),
        description = escape(&t.description_text),
    );
    layout(&format!("Ticket #{id}"), &body).into_response()
}

#[derive(Deserialize)]
pub(super) struct ReplyForm {
    body: String,
    agent_email: Option<String>,
}

pub(super) async fn reply(
    State(sb): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(id): Path<u64>,
    Form(form): Form<ReplyForm>,
) -> Response {
    if !form.body.trim().is_empty() {
        let email = form.agent_email.as_deref().filter(|e| !e.is_empty());
        if let Err(e) = sb.agent_replies(id, &from_typed_text(&form.body), email).await {
            return (StatusCode::NOT_FOUND, e.to_string()).into_response();
        }
    }
    back_to_ticket(&original, &uri, id)
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    status: u16,
}

pub(super) async fn status(
    State(sb): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(id): Path<u64>,
    Form(form): Form<StatusForm>,
) -> Response {
    match sb.set_ticket_status(id, form.status).await {
        Ok(()) => back_to_ticket(&original, &uri, id),
        Err(crate::SandboxError::TicketNotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn back_to_ticket(original: &Uri, uri: &Uri, id: u64) -> Response {
    let prefix = mount_prefix(original, uri);
    Redirect::to(&format!("{prefix}/desk/tickets/{id}")).into_response()
}
