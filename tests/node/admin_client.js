// What the Admin UI sees: socket.io-client on the /admin namespace, as the UI connects.
// argv: URL USERNAME PASSWORD. Logs in with a wrong password (refused), then with the right
// one; an app client joins a room, sends an event, gets one back; the admin makes it join a
// room, then disconnects it. Prints one JSON line: the refusal message, the shape of every
// event the admin socket got (by event name), and what the app client saw.
"use strict";

const path = require("path");
const { io } = require(path.join(process.env.NODE_MODULES || "node_modules", "socket.io-client"));

const [url, username, password] = process.argv.slice(2);
const MAPS = new Set(["headers", "query", "data"]); // free-form objects: only value types count

function shape(value, key) {
  if (Array.isArray(value)) {
    const shapes = new Set(value.map((item) => JSON.stringify(shape(item))));
    return [...shapes].sort().map((s) => JSON.parse(s));
  }
  if (value === null) return "null";
  if (typeof value === "object") {
    const result = {};
    if (MAPS.has(key)) {
      const types = new Set(Object.values(value).map((v) => JSON.stringify(shape(v))));
      result["*"] = [...types].sort().map((s) => JSON.parse(s));
      return result;
    }
    for (const k of Object.keys(value).sort()) result[k] = shape(value[k], k);
    return result;
  }
  return typeof value;
}

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

const timeout = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));

async function main() {
  const result = { events: {}, aggregated: [] };
  const refused = io(url + "/admin", { auth: { username, password: "wrong" }, forceNew: true });
  result.refused = (await Promise.race([once(refused, "connect_error"), timeout(10000)]))[0].message;
  refused.close();

  const admin = io(url + "/admin", { auth: { username, password }, forceNew: true, transports: ["websocket"] });
  const seen = [];
  admin.onAny((event, ...args) => {
    seen.push([event, args]);
    const shapes = (result.events[event] = result.events[event] || []);
    const s = JSON.stringify(args.map((arg) => shape(arg)));
    if (!shapes.includes(s)) shapes.push(s);
    if (event === "server_stats") {
      for (const e of args[0].aggregatedEvents) {
        const t = e.type + (e.subType ? ":" + e.subType : "");
        if (!result.aggregated.includes(t)) result.aggregated.push(t);
      }
    }
  });
  const waitFor = (predicate) =>
    Promise.race([
      new Promise((resolve) => {
        const check = () => (predicate() ? resolve() : setTimeout(check, 20));
        check();
      }),
      timeout(15000),
    ]);
  const count = (event) => seen.filter(([e]) => e === event).length;
  await waitFor(() => count("all_sockets") === 1 && count("server_stats") >= 1);

  const app = io(url, { forceNew: true, transports: ["websocket"] });
  await Promise.race([once(app, "connect"), timeout(10000)]);
  result.join = await app.emitWithAck("join", "lobby");
  app.emit("hello");
  result.back = await Promise.race([once(app, "hello-back"), timeout(10000)]);
  admin.emit("join", "/", "vip", app.id);
  await waitFor(() => seen.some(([e, a]) => e === "room_joined" && a[1] === "vip"));
  const kicked = once(app, "disconnect");
  admin.emit("_disconnect", "/", false, app.id);
  result.kicked = (await Promise.race([kicked, timeout(10000)]))[0];
  const stats = count("server_stats");
  await waitFor(() => count("socket_disconnected") >= 1 && count("server_stats") >= stats + 2);
  result.aggregated.sort();
  for (const event of Object.keys(result.events)) result.events[event].sort();
  result.order = [...new Set(seen.map(([e]) => e))];
  admin.close();
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(String(err.stack || err) + "\n");
  process.exit(1);
});
