// Many Socket.IO clients for bench/recovery.py: raw Engine.IO v4 / Socket.IO 5 (JSON) over WebSocket (the
// `ws` package), driven by one JSON command a line on stdin; answers {"id", "ok"} or {"id", "error"} on stdout.
//
//   connect {port, clients, rooms}   connect `clients` sockets, client i joins room "r<i % rooms>" (acked)
//   publish {port, rooms, from, to}  a publisher socket emits "publish"(room, seq) for seq in [from, to] to every
//                                    room, one at a time (acked), then leaves
//   received {seq}                   wait until every client got "msg"(seq); -> how many have an offset
//   closed {}                        wait until every client saw its connection close
//   reconnect {port, last, timeout}  every client reconnects at once with its pid and offset; waits until each
//                                    is connected and (if recovered) got "msg" up to `last`, or the timeout.
//                                    -> {recovered, fresh, failed, incomplete, errors, connect_ms: [...],
//                                        complete_ms: [...] (recovered clients), done_ms: [...] (every client
//                                        done: connected and, if recovered, up to `last`), wall_ms, cpu_s};
//                                    times in ms from the common start, cpu_s the clients' own CPU
"use strict";

const path = require("path");
const readline = require("readline");
const modules = process.env.NODE_MODULES || path.join(__dirname, "..", "node_modules");
const WebSocket = require(path.join(modules, "ws"));

const clients = [];
const now = () => Number(process.hrtime.bigint()) / 1e6;

// One Socket.IO client on one Engine.IO WebSocket connection; `handlers` get its events.
function open(port, connectPayload, handlers) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  const acks = new Map();
  let nextAck = 0;
  const socket = {
    ws,
    emit(event, ...args) {
      return new Promise((resolve) => {
        const id = nextAck++;
        acks.set(id, resolve);
        ws.send(`42${id}${JSON.stringify([event, ...args])}`);
      });
    },
  };
  ws.on("message", (data) => {
    const text = data.toString();
    if (text[0] === "2") return ws.send("3"); // ping
    if (text[0] === "0") return ws.send(connectPayload ? `40${JSON.stringify(connectPayload)}` : "40");
    if (text[0] !== "4") return;
    const type = text[1];
    if (type === "0") return handlers.connect(JSON.parse(text.slice(2)));
    if (type === "4") return handlers.error(text.slice(2));
    const digits = /^\d*/.exec(text.slice(2))[0];
    const body = JSON.parse(text.slice(2 + digits.length));
    if (type === "3") {
      const resolve = acks.get(Number(digits));
      acks.delete(Number(digits));
      if (resolve) resolve(body);
    } else if (type === "2") handlers.event(body);
  });
  ws.on("error", (error) => handlers.error(String(error.message || error)));
  ws.on("close", () => handlers.close());
  return socket;
}

function track(client, args) {
  // "msg"(seq, offset): the offset, a string, comes last when recovery is on
  const last = args[args.length - 1];
  if (typeof last === "string") client.offset = last;
  if (typeof args[1] === "number") client.seq = Math.max(client.seq, args[1]);
}

async function connectOne(port, index, rooms) {
  const client = { index, room: `r${index % rooms}`, sid: null, pid: null, offset: null, seq: 0, closed: false };
  clients.push(client);
  await new Promise((resolve, reject) => {
    client.socket = open(port, null, {
      connect: (info) => {
        client.sid = info.sid;
        client.pid = info.pid || null;
        resolve();
      },
      error: reject,
      event: (args) => args[0] === "msg" && track(client, args),
      close: () => {
        client.closed = true;
      },
    });
  });
  await client.socket.emit("join", client.room);
}

function waitFor(check, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const start = now();
    const tick = () => {
      const value = check();
      if (value) return resolve(value);
      if (now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

const commands = {
  async connect({ port, clients: n, rooms }) {
    for (let i = 0; i < n; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 100); j++) batch.push(connectOne(port, j, rooms));
      await Promise.all(batch);
    }
    return clients.length;
  },
  async publish({ port, rooms, from, to }) {
    let publisher;
    await new Promise((resolve, reject) => {
      publisher = open(port, null, { connect: resolve, error: reject, event: () => {}, close: () => {} });
    });
    for (let seq = from; seq <= to; seq++) {
      for (let r = 0; r < rooms; r++) await publisher.emit("publish", `r${r}`, seq);
    }
    publisher.ws.close();
    return to - from + 1;
  },
  async received({ seq }) {
    await waitFor(() => clients.every((c) => c.seq >= seq), 30_000, `every client to get msg ${seq}`);
    return clients.filter((c) => c.offset !== null).length;
  },
  async closed() {
    await waitFor(() => clients.every((c) => c.closed), 30_000, "every connection to close");
    return clients.length;
  },
  async reconnect({ port, last, timeout }) {
    const cpu0 = process.cpuUsage();
    const start = now();
    const results = await Promise.all(
      clients.map(
        (client) =>
          new Promise((resolve) => {
            const result = { connect: null, complete: null, recovered: false, error: null };
            const oldSid = client.sid;
            const done = () => {
              clearTimeout(timer);
              resolve(result);
            };
            const check = () => {
              if (result.connect !== null && (!result.recovered || client.seq >= last)) {
                result.complete = now() - start;
                done();
              }
            };
            const timer = setTimeout(done, timeout * 1000);
            client.closed = false;
            client.socket = open(port, client.pid ? { pid: client.pid, offset: client.offset } : null, {
              connect: (info) => {
                result.connect = now() - start;
                result.recovered = info.sid === oldSid;
                client.sid = info.sid;
                client.pid = info.pid || null;
                check();
              },
              error: (error) => {
                result.error = error;
                done();
              },
              event: (args) => {
                if (args[0] !== "msg") return;
                track(client, args);
                check();
              },
              close: () => {
                client.closed = true;
              },
            });
          }),
      ),
    );
    const wall = now() - start;
    const cpu = process.cpuUsage(cpu0);
    const recovered = results.filter((r) => r.recovered);
    return {
      recovered: recovered.length,
      fresh: results.filter((r) => r.connect !== null && !r.recovered).length,
      failed: results.filter((r) => r.connect === null).length,
      incomplete: recovered.filter((r) => r.complete === null).length,
      errors: [...new Set(results.filter((r) => r.error).map((r) => r.error))].slice(0, 3),
      connect_ms: results.filter((r) => r.connect !== null).map((r) => r.connect),
      complete_ms: recovered.filter((r) => r.complete !== null).map((r) => r.complete),
      done_ms: results.filter((r) => r.complete !== null).map((r) => r.complete),
      wall_ms: wall,
      cpu_s: (cpu.user + cpu.system) / 1e6,
    };
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  Promise.resolve()
    .then(() => commands[cmd.cmd](cmd))
    .then(
      (ok) => process.stdout.write(JSON.stringify({ id: cmd.id, ok }) + "\n"),
      (error) => process.stdout.write(JSON.stringify({ id: cmd.id, error: String((error && error.message) || error) }) + "\n"),
    );
});
rl.on("close", () => {
  for (const client of clients) client.socket.ws.terminate();
  process.exit(0);
});
