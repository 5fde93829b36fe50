// The reference: Node's socket.io 4.8 server, set up like the Python server of the
// differential tests (tests/socketio/test_differential.py). Prints {"port": n} once listening.
//
// Namespaces: "/" (echo with ack; "shout", "whisper", "quiet": io.emit, socket.emit and
// io.volatile.emit of "news" with the arguments, then an empty ack), "/refused" (a middleware refuses with a message and data),
// /^\/dyn-\d+$/ (dynamic, by regex). Options: JSON in argv[2]; "parser": "msgpack" stands for
// socket.io-msgpack-parser.
"use strict";

const path = require("path");
const http = require("http");
const { Server } = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io"));

const options = JSON.parse(process.argv[2] || "{}");
if (options.parser === "msgpack") {
  options.parser = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io-msgpack-parser"));
}
const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false, ...options });

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("shout", (...args) => {
    const ack = args.pop();
    io.emit("news", ...args);
    ack();
  });
  socket.on("whisper", (...args) => {
    const ack = args.pop();
    socket.emit("news", ...args);
    ack();
  });
  socket.on("quiet", (...args) => {
    const ack = args.pop();
    io.volatile.emit("news", ...args);
    ack();
  });
});

io.of("/refused").use((socket, next) => {
  const err = new Error("not allowed");
  err.data = { code: 42 };
  next(err);
});

io.of(/^\/dyn-\d+$/).on("connection", () => {});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
