// Node's socket.io 4.8 with @socket.io/redis-streams-adapter 0.3 and connectionStateRecovery
// (120 s window, default options otherwise), for bench/recovery.py.
//
// Usage: node bench/servers/node_recovery.js REDIS_URL PORT. Prints {"port": n} once the adapter
// reads the stream and the server listens.
// "join"(room) joins and acks "joined"; "publish"(room, seq) emits "msg"(seq) to the room and acks.
// SIGTERM is a restart: io.close() disconnects every socket ("server shutting down", whose
// sessions the adapter saves in Redis), then the Redis client quits once its writes are done.
"use strict";

const path = require("path");
const http = require("http");
const modules = process.env.NODE_MODULES || path.join(__dirname, "..", "..", "node_modules");
const { Server } = require(path.join(modules, "socket.io"));
const { createClient } = require(path.join(modules, "redis"));
const { createAdapter } = require(path.join(modules, "@socket.io/redis-streams-adapter"));

async function main() {
  const name = `node-recovery-${process.pid}`;
  const redis = createClient({ url: process.argv[2], name });
  redis.on("error", () => {});
  await redis.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    adapter: createAdapter(redis),
    connectionStateRecovery: { maxDisconnectionDuration: 120_000 },
  });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack("joined");
    });
    socket.on("publish", (room, seq, ack) => {
      io.to(room).emit("msg", seq);
      if (typeof ack === "function") ack(seq);
    });
  });
  process.on("SIGTERM", () => {
    setTimeout(() => process.exit(1), 10_000).unref();
    // node-redis sends QUIT after the commands already queued (the sessions' SETs)
    io.close().finally(() => redis.quit().finally(() => process.exit(0)));
  });
  for (;;) {
    const list = await redis.sendCommand(["CLIENT", "LIST"]);
    if (list.split("\n").some((line) => line.includes(` name=${name} `) && line.includes(" cmd=xread"))) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  httpServer.listen(Number(process.argv[3]), "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
