// The reference Admin UI server: Node's socket.io 4.8 instrumented by @socket.io/admin-ui 0.5,
// with the small app of tests/admin/test_differential.py. argv[2]: {"username", "hash"}.
// Prints {"port": n} once listening; exits when stdin closes.
"use strict";

const path = require("path");
const http = require("http");
const modules = process.env.NODE_MODULES || "node_modules";
const { Server } = require(path.join(modules, "socket.io"));
const { instrument } = require(path.join(modules, "@socket.io/admin-ui"));

const options = JSON.parse(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack("ok");
  });
  socket.on("hello", () => socket.emit("hello-back", "hi", 1));
});

instrument(io, {
  auth: { type: "basic", username: options.username, password: options.hash },
  mode: "development",
  serverId: "reference",
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
