// Baseline: Node's socket.io 4.8 running the benchmark app (see bench/loadgen.js).
// Usage: node bench/servers/node_socketio.js PORT
"use strict";
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "..", "node_modules", "socket.io"));

const port = Number(process.argv[2]);
const io = new Server({ serveClient: false });
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("fanout", (payload) => io.to("bench").emit("msg", payload));
  socket.on("echo", (payload, ack) => ack(payload));
});
io.listen(port);
process.stdout.write("ready\n");
