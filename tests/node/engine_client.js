// Node engine.io-client against an echo engine.
// usage: node engine_client.js URL PATH TRANSPORTS(comma list) COUNT
// Sends COUNT text and COUNT binary messages, waits for all echoes, prints a JSON report, exits.
"use strict";
const path = require("path");
const ROOT = path.resolve(__dirname, "..", "..");
const { Socket } = require(path.join(ROOT, "node_modules", "engine.io-client"));

const [url, enginePath, transports, countText] = process.argv.slice(2);
const count = Number(countText);
const socket = new Socket(url, { path: enginePath, transports: transports.split(",") });
const texts = [];
const binaries = [];
let upgraded = false;

const timer = setTimeout(() => finish("timeout"), 20000);

function finish(error) {
  clearTimeout(timer);
  const report = {
    error: error || null,
    transport: socket.transport ? socket.transport.name : null,
    upgraded,
    texts,
    binaries,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
  socket.close();
  process.exit(0);
}

const expectUpgrade = transports.split(",").length > 1;

function maybeFinish() {
  if (texts.length === count && binaries.length === count && (upgraded || !expectUpgrade)) {
    finish(null);
  }
}

socket.on("upgrade", () => {
  upgraded = true;
  maybeFinish();
});
socket.on("open", () => {
  for (let i = 0; i < count; i++) {
    socket.send("m" + i);
    socket.send(Buffer.from([i % 256, 0xff]));
  }
});
socket.on("message", (data) => {
  if (typeof data === "string") texts.push(data);
  else binaries.push(Array.from(new Uint8Array(data)));
  maybeFinish();
});
socket.on("error", (err) => finish(String(err)));
socket.on("close", (reason) => {
  if (texts.length !== count || binaries.length !== count) finish("closed: " + reason);
});
