// Node's socket.io 4.8 with @socket.io/redis-adapter 8.3 (node-redis 4 clients, default options
// but `key`), for the mixed-cluster tests. argv: REDIS_URL [OPTIONS_JSON]. Prints {"port": n}
// once listening and subscribed. $SIO_PARSER=msgpack: the server uses socket.io-msgpack-parser.
//
// Like the Python test app: a middleware sets socket.data = {server: "node"}; "join" joins a room
// and acks "joined". Server-side event "ping" answers n + 1.
//
// stdin, one command a line: {"id", "cmd", ...}; stdout: {"id", "ok": value} or {"id", "error"}.
// Binary values travel as {"$bin": "<base64>"}.
//   emit {room?, except?, event, args}   io.to(room).except(except).emit(event, ...args)
//   ask {room?, event, args, timeout}    io.timeout(timeout * 1000).to(room).emitWithAck -> answers
//   fetch {room?}                        io.in(room).fetchSockets() -> [{id, rooms, data, auth, local}]
//   remote {sid, action, room?, event?, args?}  on fetchSockets()'s socket `sid`: emit/join/leave/disconnect
//   join {target, room} / leave {target, room}  io.in(target).socketsJoin/socketsLeave(room)
//   disconnect {target}                  io.in(target).disconnectSockets()
//   count                                adapter.serverCount()
//   ssemit {event, args, ack?}           io.serverSideEmit(...) / serverSideEmitWithAck -> answers
//   events                               the server-side events received so far
"use strict";

const path = require("path");
const http = require("http");
const readline = require("readline");
const modules = process.env.NODE_MODULES || "node_modules";
const { Server } = require(path.join(modules, "socket.io"));
const { createClient } = require(path.join(modules, "redis"));
const { createAdapter } = require(path.join(modules, "@socket.io/redis-adapter"));

function toWire(value) {
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) return Buffer.from(value.$bin, "base64");
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return value;
}

function fromWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromWire(v);
    return out;
  }
  return value === undefined ? null : value;
}

async function main() {
  const options = JSON.parse(process.argv[3] || "{}");
  const pub = createClient({ url: process.argv[2] });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const serverOptions = { serveClient: false, adapter: createAdapter(pub, sub, options) };
  if (process.env.SIO_PARSER === "msgpack") serverOptions.parser = require(path.join(modules, "socket.io-msgpack-parser"));
  const io = new Server(httpServer, serverOptions);
  const serverEvents = [];

  io.use((socket, next) => {
    socket.data = { server: "node" };
    next();
  });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack("joined");
    });
  });
  io.on("ping", (n, callback) => {
    serverEvents.push(["ping", n]);
    if (typeof callback === "function") callback(n + 1);
  });
  io.on("note", (...args) => serverEvents.push(["note", ...args]));

  const select = (cmd) => {
    let op = io.of("/");
    if (cmd.room) op = op.in(cmd.room);
    if (cmd.except) op = op.except(cmd.except);
    return op;
  };

  async function handle(cmd) {
    switch (cmd.cmd) {
      case "emit":
        select(cmd).emit(cmd.event, ...toWire(cmd.args || []));
        return null;
      case "ask": {
        let op = io.timeout(cmd.timeout * 1000);
        if (cmd.room) op = op.to(cmd.room);
        return fromWire(await op.emitWithAck(cmd.event, ...toWire(cmd.args || [])));
      }
      case "fetch": {
        const sockets = await select(cmd).fetchSockets();
        return sockets.map((s) => ({
          id: s.id,
          rooms: [...s.rooms],
          data: fromWire(s.data),
          auth: fromWire(s.handshake.auth),
          local: Boolean(s.server),
        }));
      }
      case "remote": {
        const socket = (await io.fetchSockets()).find((s) => s.id === cmd.sid);
        if (!socket) throw new Error(`no socket ${cmd.sid}`);
        if (cmd.action === "emit") socket.emit(cmd.event, ...toWire(cmd.args || []));
        else if (cmd.action === "join") socket.join(cmd.room);
        else if (cmd.action === "leave") socket.leave(cmd.room);
        else if (cmd.action === "disconnect") socket.disconnect();
        return null;
      }
      case "join":
        io.in(cmd.target).socketsJoin(cmd.room);
        return null;
      case "leave":
        io.in(cmd.target).socketsLeave(cmd.room);
        return null;
      case "disconnect":
        io.in(cmd.target).disconnectSockets();
        return null;
      case "count":
        return await io.of("/").adapter.serverCount();
      case "ssemit":
        if (cmd.ack) return fromWire(await io.serverSideEmitWithAck(cmd.event, ...toWire(cmd.args || [])));
        io.serverSideEmit(cmd.event, ...toWire(cmd.args || []));
        return null;
      case "events":
        return fromWire(serverEvents);
      default:
        throw new Error(`unknown command ${cmd.cmd}`);
    }
  }

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    const cmd = JSON.parse(line);
    Promise.resolve()
      .then(() => handle(cmd))
      .then(
        (ok) => process.stdout.write(JSON.stringify({ id: cmd.id, ok: ok === undefined ? null : ok }) + "\n"),
        (error) => process.stdout.write(JSON.stringify({ id: cmd.id, error: String(error && error.message || error) }) + "\n"),
      );
  });
  rl.on("close", () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  });

  httpServer.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
