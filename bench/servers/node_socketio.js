// Baseline: Node's socket.io 4.8 running the benchmark app (see bench/loadgen.js).
// Usage: node bench/servers/node_socketio.js PORT  ($BENCH_PARSER=msgpack: socket.io-msgpack-parser)
"use strict";
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "..", "node_modules", "socket.io"));

const port = Number(process.argv[2]);
const options = { serveClient: false };
if (process.env.BENCH_PARSER === "msgpack") {
  options.parser = require(path.join(__dirname, "..", "..", "node_modules", "socket.io-msgpack-parser"));
}
const io = new Server(options);
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
