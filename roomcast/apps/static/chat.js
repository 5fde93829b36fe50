// The roomcast chat page: the official socket.io client, a JWT in the handshake's auth.
"use strict";

const $ = (id) => document.getElementById(id);
const path = document.body.dataset.path;
let socket = null;
let me = null;
// The rooms joined on this page: a new connection (the server restarted, the network came back)
// starts in no room, so the page joins them again on every reconnect.
const rooms = new Set();

// Show the token passed in the URL fragment (#token=...): fragments never reach server logs.
const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromUrl) $("token").value = fromUrl;

function setStatus(text, state) {
  $("status").textContent = text;
  $("status").dataset.state = state;
}

function setOnline(online) {
  for (const id of ["join", "leave", "message", "send-button"]) $(id).disabled = !online;
}

function add(kind, text, name) {
  const item = document.createElement("li");
  item.className = kind;
  if (name !== undefined) {
    const who = document.createElement("span");
    who.className = "name";
    who.textContent = name;
    item.append(who, ": " + text);
  } else {
    item.textContent = text;
  }
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

// The claims of a JWT, read (not verified: the server does that) to show your own name.
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

function connect(token) {
  if (socket) socket.disconnect();
  const claims = claimsOf(token);
  const id = String(claims.id ?? "?");
  if (me && me.id !== id) rooms.clear(); // another user: not their rooms
  me = { id, name: claims.name ?? String(claims.id ?? "me") };
  setStatus("connecting…", "offline");
  socket = io({ path, auth: { token } });
  socket.on("connect", () => {
    // A recovered socket is back in its rooms; otherwise (a new socket: the server restarted,
    // or the outage outlasted the recovery window) the joins go out before anything the user
    // can send now, so the server sees them first.
    if (!socket.recovered) for (const room of rooms) rejoin(room);
    setStatus(`connected as ${me.name}`, "online");
    setOnline(true);
    // recovered: the server kept our rooms and has just replayed what we missed
    if (socket.recovered) add("info", "reconnected: rooms kept, missed messages delivered");
    else add("info", `connected as ${me.name} (id ${me.id})`);
  });
  socket.on("connect_error", (err) => {
    setStatus(`refused: ${err.message}`, "error");
    setOnline(false);
    add("error", `connection refused: ${err.message}`);
  });
  socket.on("disconnect", (reason) => {
    setStatus(`disconnected: ${reason}`, "offline");
    setOnline(false);
    add("info", `disconnected (${reason})`);
  });
  socket.on("message", ({ name, message }) => add("theirs", message, name));
}

function roomRequest(event) {
  const room = $("room-name").value.trim();
  if (!room || !socket) return;
  socket.emit(event, room, (answer) => {
    if (answer && answer.status === "ok") {
      if (event === "join") rooms.add(room);
      else rooms.delete(room);
      add("info", `${event === "join" ? "joined" : "left"} ${room}`);
    } else {
      add("error", `${event} ${room}: ${answer ? answer.error : "no answer"}`);
    }
  });
}

function rejoin(room) {
  socket.emit("join", room, (answer) => {
    if (answer && answer.status === "ok") add("info", `rejoined ${room}`);
    else add("error", `could not rejoin ${room}: ${answer ? answer.error : "no answer"}`);
  });
}

$("connect").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) connect(token);
  else add("error", "paste a token first");
});

$("room").addEventListener("submit", (event) => {
  event.preventDefault();
  roomRequest("join");
});
$("leave").addEventListener("click", () => roomRequest("leave"));

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  const message = $("message").value;
  const roomName = $("room-name").value.trim();
  if (!message || !socket) return;
  const item = add("mine pending", message, me.name);
  $("message").value = "";
  socket.emit("message", { message, roomName }, (answer) => {
    item.classList.remove("pending");
    if (!answer || answer.status !== "ok") add("error", `not sent: ${answer ? answer.error : "no answer"}`);
  });
});

// Without the client script nothing works: say why, instead of "connecting…" forever.
if (typeof io !== "function") {
  setStatus("the Socket.IO client did not load", "error");
  $("connect-button").disabled = true;
  add("error", "/socket.io/socket.io.js did not load: run `npm install socket.io-client` " +
    "where the server runs, then reload.");
}
