// One Node socket.io-client 4.8 connection for the TLS and proxy tests.
// usage: node tls_client.js JSON  with {url, transports?, ca?, extraHeaders?}
// Connects, emits "whoami" with an ack, prints {transport, answer} as one JSON line once the
// transport is the one asked last (after an upgrade, if any), then disconnects and exits;
// on a connection error prints {error}.
"use strict";
const path = require("path");
const { io } = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io-client"));

const opts = JSON.parse(process.argv[2]);
const transports = opts.transports || ["polling", "websocket"];
const socket = io(opts.url, {
  transports,
  ca: opts.ca,
  extraHeaders: opts.extraHeaders,
  reconnection: false,
});

function done(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  socket.disconnect(); // Node exits once the close has been sent: nothing else is pending
}

function ask() {
  socket.emit("whoami", (answer) => done({ transport: socket.io.engine.transport.name, answer }));
}

socket.on("connect", () => {
  const last = transports[transports.length - 1];
  if (socket.io.engine.transport.name === last) ask();
  else socket.io.engine.once("upgrade", ask);
});
socket.on("connect_error", (error) => done({ error: String(error && error.message) }));
