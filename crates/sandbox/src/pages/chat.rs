//! `/chat?user=<ref>`: the customer's side of a Freshchat conversation. Polls a JSON endpoint
//! every second so agent messages appear without a reload; works as a plain form without JS.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use super::{layout, mount_prefix};
use crate::freshchat::model::{ActorType, MessageType};
use crate::html::escape;
use crate::{Sandbox, lock, timestamps};

#[derive(Serialize)]
pub(super) struct ChatView {
    conversation_id: Option<String>,
    status: Option<String>,
    messages: Vec<ChatLine>,
}

#[derive(Serialize)]
struct ChatLine {
    id: String,
    from: &'static str,
    text: String,
    time: String,
}

/// The customer's conversation as the widget shows it: private notes hidden, oldest first.
fn view(sb: &Sandbox, user_ref: &str) -> ChatView {
    let store = lock(&sb.inner.freshchat);
    let conversation = store
        .user_by_reference(user_ref)
        .and_then(|u| store.user_conversations(&u.id).last().copied());
    let Some(conversation) = conversation else {
        return ChatView {
            conversation_id: None,
            status: None,
            messages: Vec::new(),
        };
    };
    let messages = store
        .messages(&conversation.conversation_id)
        .iter()
        .filter(|m| m.message_type != MessageType::Private)
        .map(|m| ChatLine {
            id: m.id.clone(),
            from: match m.actor_type {
                ActorType::User => "user",
                ActorType::Agent => "agent",
                ActorType::Bot => "bot",
                ActorType::System => "system",
            },
            text: m.text(),
            time: timestamps::millis(m.created_time),
        })
        .collect();
    ChatView {
        conversation_id: Some(conversation.conversation_id.clone()),
        status: serde_json::to_value(conversation.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from)),
        messages,
    }
}

pub(super) async fn page(
    State(sb): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let prefix = mount_prefix(&original, &uri);
    let Some(user) = q.get("user").filter(|u| !u.trim().is_empty()) else {
        let body = format!(
            "<form class=\"row\" method=\"get\" action=\"{p}/chat\">\
             <input type=\"text\" name=\"user\" placeholder=\"your user id\" required>\
             <button>Open chat</button></form>",
            p = escape(&prefix)
        );
        return layout("Chat", &body).into_response();
    };
    let chat = view(&sb, user);
    let bubbles: String = chat
        .messages
        .iter()
        .map(|m| format!("<div class=\"bubble {}\">{}</div>", m.from, escape(&m.text)))
        .collect();
    let body = format!(
        "<p class=\"meta\">Chatting as <strong>{user}</strong> · <span id=\"status\">{status}</span></p>\
         <div id=\"bubbles\" class=\"bubbles card\">{bubbles}</div>\
         <form id=\"send\" class=\"row\" method=\"post\" action=\"{p}/chat\">\
         <input type=\"hidden\" name=\"user\" value=\"{user}\">\
         <input type=\"text\" name=\"text\" placeholder=\"Type a message\" autocomplete=\"off\" required>\
         <button>Send</button></form>\
         <script>{script}</script>",
        user = escape(user),
        status = escape(chat.status.as_deref().unwrap_or("no conversation yet")),
        p = escape(&prefix),
        script = SCRIPT,
    );
    layout("Chat", &body).into_response()
}

/// Polls for new messages and sends without a reload; all text goes in via `textContent`.
const SCRIPT: &str = r#"
(function(){
  var form=document.getElementById('send'), box=document.getElementById('bubbles');
  var user=form.elements.user.value, base=form.getAttribute('action'), shown='';
  function render(v){
    var key=v.messages.map(function(m){return m.id}).join(',')+'|'+(v.status||'');
    if(key===shown)return; shown=key;
    box.textContent='';
    v.messages.forEach(function(m){var d=document.createElement('div');d.className='bubble '+m.from;d.textContent=m.text;box.appendChild(d)});
    document.getElementById('status').textContent=v.status||'no conversation yet';
    box.lastChild&&box.lastChild.scrollIntoView();
  }
  function poll(){fetch(base+'/messages?user='+encodeURIComponent(user)).then(function(r){return r.json()}).then(render).catch(function(){})}
  form.addEventListener('submit',function(e){
    e.preventDefault(); var t=form.elements.text; if(!t.value.trim())return;
    fetch(base+'/messages',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({user:user,text:t.value})}).then(poll);
    t.value='';
  });
  setInterval(poll,1000); poll();
})();
"#;

pub(super) async fn messages(State(sb): State<Sandbox>, Query(q): Query<HashMap<String, String>>) -> Response {
    match q.get("user") {
        Some(user) => Json(view(&sb, user)).into_response(),
        None => (StatusCode::BAD_REQUEST, "user is required").into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct Said {
    user: String,
    text: String,
}

pub(super) async fn send_json(State(sb): State<Sandbox>, Json(said): Json<Said>) -> Response {
    if said.text.trim().is_empty() {
        return (StatusCode::BAD_REQUEST, "text is required").into_response();
    }
    match sb.customer_says(&said.user, &said.text).await {
        Ok(chat) => (StatusCode::CREATED, Json(chat)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

pub(super) async fn send_form(
    State(sb): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Form(said): Form<Said>,
) -> Response {
    if !said.text.trim().is_empty()
        && let Err(e) = sb.customer_says(&said.user, &said.text).await
    {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    let user: String = url::form_urlencoded::byte_serialize(said.user.as_bytes()).collect();
    let prefix = mount_prefix(&original, &uri);
    Redirect::to(&format!("{prefix}/chat?user={user}")).into_response()
}
