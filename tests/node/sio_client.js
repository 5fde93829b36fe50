// Drives Node's socket.io-client 4.8 for the Python tests: JSON lines in, JSON lines out.
//
// stdin, one command a line: {"id": n, "cmd": "...", ...}; stdout: the answer
// {"id": n, "ok": value} or {"id": n, "error": {...}}, and, at any time, notices
// {"type": "event" | "disconnect" | "connect_error", "name": socketName, ...}.
// Binary values travel as {"$bin": "<base64>"} in both directions.
//
// Commands:
//   connect {name, url, nsp, auth?, query?, transports?, manager?, reconnection?, options?,
//            parser?, path?}
//       -> {sid, recovered}  (error: {message, data})
//       parser "msgpack": socket.io-msgpack-parser;
//       with "manager", sockets sharing that name share one Engine.IO connection; every later
//       (re)connection is reported as a notice {type: "connect", name, sid, recovered};
//       "options" are more client options (extraHeaders, withCredentials...)
//   reply {name, event, value}     answer the server's acks for `event` with ...value
//                                  (default: echo the event's arguments; null: never answer)
//   emit {name, event, args}       fire and forget
//   call {name, event, args, timeout?}  emit with an ack -> {args}  (error: {message} on timeout)
//   disconnect {name}              socket.disconnect()
//   close {name}                   close the socket's Engine.IO connection (transport close)
//   reconnect {name, url?}         socket.connect() again (after a close or a disconnect), to
//                                  `url` if given (another server: the Manager's uri changes)
//   state {name}                   -> {sid, pid, offset} (the recovery state the client holds)
//   transport {name}               -> the Engine.IO transport name
//   exit                           close everything and exit
"use strict";

const path = require("path");
const readline = require("readline");
const { io, Manager } = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io-client"));

const sockets = new Map();
const managers = new Map();
const replies = new Map(); // `${name}\0${event}` -> values

function write(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function toWire(value) {
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) {
      return Buffer.from(value.$bin, "base64");
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return value;
}

function fromWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromWire(v);
    return out;
  }
  return value;
}

function connect(cmd) {
  return new Promise((resolve, reject) => {
    const opts = {
      reconnection: !!cmd.reconnection,
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      transports: cmd.transports || ["polling", "websocket"],
      query: cmd.query || {},
      ...(cmd.options || {}),
    };
    if (cmd.parser === "msgpack") {
      opts.parser = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io-msgpack-parser"));
    }
    if (cmd.path) opts.path = cmd.path;
    let socket;
    if (cmd.manager) {
      let manager = managers.get(cmd.manager);
      if (!manager) {
        manager = new Manager(cmd.url, opts);
        managers.set(cmd.manager, manager);
      }
      socket = manager.socket(cmd.nsp || "/", { auth: cmd.auth || {} }); // connects by itself
    } else {
      socket = io(cmd.url + (cmd.nsp || "/"), { ...opts, forceNew: true, auth: cmd.auth || {} });
    }
    const name = cmd.name;
    sockets.set(name, socket);
    socket.onAny((event, ...args) => {
      let ack = null;
      if (args.length && typeof args[args.length - 1] === "function") ack = args.pop();
      write({ type: "event", name, event, args: fromWire(args), ack: ack !== null });
      if (ack) {
        const key = `${name}\0${event}`;
        const value = replies.has(key) ? replies.get(key) : args;
        if (value !== null) ack(...toWire(value));
      }
    });
    socket.on("disconnect", (reason, details) => {
      write({ type: "disconnect", name, reason, description: details && details.description ? String(details.description) : null });
    });
    let settled = false;
    socket.on("connect", () => {
      if (!settled) {
        settled = true;
        resolve({ sid: socket.id, recovered: !!socket.recovered });
      } else {
        write({ type: "connect", name, sid: socket.id, recovered: !!socket.recovered });
      }
    });
    socket.on("connect_error", (err) => {
      write({ type: "connect_error", name, message: err.message, data: err.data === undefined ? null : fromWire(err.data) });
      if (!settled) {
        settled = true;
        reject({ message: err.message, data: err.data === undefined ? null : fromWire(err.data) });
      }
    });
  });
}

function call(socket, cmd) {
  return new Promise((resolve, reject) => {
    const args = toWire(cmd.args || []);
    if (cmd.timeout != null) {
      socket.timeout(cmd.timeout * 1000).emit(cmd.event, ...args, (err, ...res) => {
        if (err) reject({ message: err.message });
        else resolve({ args: fromWire(res) });
      });
    } else {
      socket.emit(cmd.event, ...args, (...res) => resolve({ args: fromWire(res) }));
    }
  });
}

async function handle(cmd) {
  const socket = sockets.get(cmd.name);
  switch (cmd.cmd) {
    case "connect":
      return connect(cmd);
    case "reply":
      replies.set(`${cmd.name}\0${cmd.event}`, cmd.value);
      return null;
    case "emit":
      socket.emit(cmd.event, ...toWire(cmd.args || []));
      return null;
    case "call":
      return call(socket, cmd);
    case "disconnect":
      socket.disconnect();
      return null;
    case "close":
      socket.io.engine.close();
      return null;
    case "reconnect":
      if (cmd.url) socket.io.uri = cmd.url;
      socket.connect();
      return null;
    case "state":
      return { sid: socket.id || null, pid: socket._pid || null, offset: socket._lastOffset || null };
    case "transport":
      return socket.io.engine.transport.name;
    case "exit":
      for (const s of sockets.values()) s.disconnect();
      setImmediate(() => process.exit(0));
      return null;
    default:
      throw { message: `unknown command ${cmd.cmd}` };
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  Promise.resolve()
    .then(() => handle(cmd))
    .then(
      (ok) => write({ id: cmd.id, ok: ok === undefined ? null : ok }),
      (error) => write({ id: cmd.id, error: error && error.message !== undefined ? error : { message: String(error) } }),
    );
});
rl.on("close", () => process.exit(0));
