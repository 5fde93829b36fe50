// Many Socket.IO clients in one Node process, for the reliability tests and bench/soak.py.
// Raw Engine.IO v4 / Socket.IO 5 over the `ws` package's WebSocket client (cheap enough for
// thousands of connections); one JSON line with the outcome on stdout.
//
// Usage: node tests/node/reliability_clients.js '<json options>'
//   {mode: "fanout", url, clients, every}     `clients` clients read every "m"(seq, pad) broadcast
//       and report "progress"(count) every `every` messages; one more client (auth {slow: true})
//       stops reading its socket. On "end"(total) the readers report; the slow one then reads
//       again until its connection ends.
//   {mode: "hold", url, clients, secret}      `clients` chat users connect, "ready <n>" is printed,
//       then every client waits for the server to end its connection (how it ended is reported).
//   {mode: "soak", url, clients, seconds, secret, rate, rooms, life: [min, max]}
//       about `clients` chat users at any time, each living `life` seconds: connect, join one or
//       two rooms, send `rate` messages a second to them, leave, disconnect; a new user replaces
//       it. Every delivery is checked: exactly once, in order, and all that must arrive did.
"use strict";

const crypto = require("crypto");
const WebSocket = require("ws");

const opts = JSON.parse(process.argv[2] || "{}");
const wsUrl = `${opts.url.replace(/^http/, "ws")}${opts.path || "/socket.io/"}?EIO=4&transport=websocket`;

function token(id) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ id, name: id, iat: now, exp: now + 3600 })}`;
  return `${input}.${crypto.createHmac("sha256", opts.secret).update(input).digest("base64url")}`;
}

// One Socket.IO client on the main namespace. Handlers: onEvent(name, args), onConnect(),
// onEnd(how) with how = {packet: "41"|"1"|null, code, clean}.
class Client {
  constructor(auth, handlers) {
    this.handlers = handlers;
    this.acks = new Map();
    this.nextAck = 0;
    this.connected = false;
    this.ended = false;
    this.endPacket = null;
    this.ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    this.ws.on("message", (data, isBinary) => this.onMessage(isBinary ? data : data.toString()));
    this.ws.on("error", (error) => {
      if (!this.connected && !this.ended) process.stderr.write(`connection failed: ${error}\n`);
    });
    this.ws.on("close", (code) => this.end(code));
    this.auth = auth;
  }
  send(text) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }
  emit(event, ...args) {
    this.send("42" + JSON.stringify([event, ...args]));
  }
  call(event, ...args) {
    const id = this.nextAck++;
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.send("42" + id + JSON.stringify([event, ...args]));
    });
  }
  onMessage(text) {
    if (typeof text !== "string") return;
    const type = text[0];
    if (type === "0") this.send("40" + JSON.stringify(this.auth));
    else if (type === "2") this.send("3");
    else if (type === "1") this.endPacket = this.endPacket || "1";
    else if (type === "4") this.onPacket(text.slice(1));
  }
  onPacket(text) {
    const type = text[0];
    if (type === "0") {
      this.connected = true;
      this.handlers.onConnect && this.handlers.onConnect();
    } else if (type === "1") {
      this.endPacket = "41";
    } else if (type === "2") {
      const [event, ...args] = JSON.parse(text.slice(1));
      this.handlers.onEvent && this.handlers.onEvent(event, args);
    } else if (type === "3") {
      const bracket = text.indexOf("[");
      const id = Number(text.slice(1, bracket));
      const resolve = this.acks.get(id);
      this.acks.delete(id);
      if (resolve) resolve(JSON.parse(text.slice(bracket))[0]);
    } else if (type === "4") {
      this.handlers.onRefused && this.handlers.onRefused(JSON.parse(text.slice(1)));
      this.ws.close();
    }
  }
  end(code) {
    if (this.ended) return;
    this.ended = true;
    this.connected = false;
    for (const resolve of this.acks.values()) resolve({ status: "no answer: connection ended" });
    this.acks.clear();
    this.handlers.onEnd && this.handlers.onEnd({ packet: this.endPacket, code });
  }
  disconnect() {
    this.send("41");
    this.ws.close();
  }
}

function print(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

// fanout: readers check order and report progress; one slow client stops reading.
function fanout() {
  const n = opts.clients;
  const readers = [];
  let finished = 0;
  let connected = 0;
  const slow = new Client({ slow: true }, {
    onConnect: () => { slow.ws._socket.pause(); started(); },
    onEnd: (how) => { slow.how = how; if (finished === n) report(); },
  });
  slow.count = 0;
  slow.handlers.onEvent = (event) => { if (event === "m") slow.count++; };
  const started = () => { if (++connected === n + 1) print({ ready: n + 1 }); };
  for (let i = 0; i < n; i++) {
    const reader = { count: 0, ordered: true, total: null };
    reader.client = new Client({}, {
      onConnect: started,
      onEvent: (event, args) => {
        if (event === "m") {
          if (args[0] !== reader.count) reader.ordered = false;
          reader.count++;
          if (reader.count % opts.every === 0) reader.client.emit("progress", reader.count);
        } else if (event === "end") {
          reader.total = args[0];
          if (++finished === n) slow.ws._socket.resume();
          if (finished === n && slow.ended) report();
        }
      },
    });
    readers.push(reader);
  }
  function report() {
    print({
      counts: readers.map((r) => r.count),
      ordered: readers.every((r) => r.ordered),
      totals: readers.map((r) => r.total),
      slow: { count: slow.count, end: slow.how },
    });
    for (const r of readers) r.client.disconnect();
    process.exit(0);
  }
}

// hold: connect everyone, then wait for the server to end every connection.
function hold() {
  const n = opts.clients;
  const ends = [];
  let connected = 0;
  const refused = [];
  for (let i = 0; i < n; i++) {
    new Client({ token: token(`hold${i}`) }, {
      onConnect: () => { if (++connected === n) process.stdout.write(`ready ${n}\n`); },
      onRefused: (error) => refused.push(error.message),
      onEnd: (how) => {
        ends.push(how);
        if (ends.length === n) {
          const byKind = {};
          for (const e of ends) {
            const key = `${e.packet}/${e.code}`;
            byKind[key] = (byKind[key] || 0) + 1;
          }
          print({ ended: ends.length, byKind, refused });
          process.exit(0);
        }
      },
    });
  }
}

// soak: churn and room traffic, with every delivery accounted for.
function soak() {
  let tick = 0; // one clock for every event seen in this process: causal order across clients
  const messages = new Map(); // room -> [{sender, seq, sent, acked}]
  const lives = []; // {id, rooms: Map(room -> {joinSent, joinAck, leaveSent, leaveAck}), got: Map}
  const stats = { connections: 0, refused: 0, sent: 0, delivered: 0, peak: 0, errors: [] };
  let live = 0;
  let stopping = false;
  let serial = 0;
  const pending = new Set();
  const roomName = (i) => `room-${i}`;
  const random = (min, max) => min + Math.random() * (max - min);

  function start() {
    const id = `u${serial++}`;
    const life = { id, rooms: new Map(), got: new Map(), client: null, sending: true, done: null };
    lives.push(life);
    stats.connections++;
    const client = (life.client = new Client({ token: token(id) }, {
      onConnect: () => run(life).catch((e) => stats.errors.push(String(e))),
      onRefused: () => { stats.refused++; },
      onEvent: (event, args) => {
        if (event !== "message") return;
        const [sender, room, seq] = args[0].message.split(" ");
        const key = `${room} ${sender}`;
        let got = life.got.get(key);
        if (!got) life.got.set(key, (got = []));
        got.push(Number(seq));
        stats.delivered++;
      },
      onEnd: () => {
        live--;
        if (life.done) life.done();
        else stats.errors.push(`${id} lost its connection`);
      },
    }));
    live++;
    stats.peak = Math.max(stats.peak, live);
    return client;
  }

  async function run(life) {
    const client = life.client;
    const count = Math.random() < 0.5 ? 1 : 2;
    const rooms = new Set();
    while (rooms.size < count) rooms.add(roomName(Math.floor(Math.random() * opts.rooms)));
    await Promise.all([...rooms].map(async (room) => {
      const entry = { joinSent: ++tick, joinAck: Infinity, leaveSent: Infinity, leaveAck: Infinity };
      life.rooms.set(room, entry);
      const answer = await client.call("join", room);
      if (answer.status !== "ok") stats.errors.push(`join: ${JSON.stringify(answer)}`);
      entry.joinAck = ++tick;
    }));
    const until = Date.now() + random(opts.life[0], opts.life[1]) * 1000;
    const seqs = new Map([...rooms].map((room) => [room, 0]));
    while (!stopping && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, random(0.5, 1.5) * 1000 / opts.rate));
      if (stopping || !client.connected) break;
      for (const room of rooms) {
        const seq = seqs.get(room);
        seqs.set(room, seq + 1);
        const message = { sender: life.id, seq, sent: ++tick, acked: null };
        if (!messages.has(room)) messages.set(room, []);
        messages.get(room).push(message);
        stats.sent++;
        const done = client.call("message", { roomName: room, message: `${life.id} ${room} ${seq}` })
          .then((answer) => {
            message.acked = ++tick;
            if (answer.status !== "ok") stats.errors.push(`message: ${JSON.stringify(answer)}`);
          });
        pending.add(done);
        done.then(() => pending.delete(done));
      }
    }
    if (stopping) return; // stays connected for the final check
    await leaveAndGo(life);
    if (!stopping) start();
  }

  async function leaveAndGo(life) {
    if (life.leaving) return;
    life.leaving = true;
    await Promise.all([...life.rooms].map(async ([room, entry]) => {
      entry.leaveSent = ++tick;
      await life.client.call("leave", room);
      entry.leaveAck = ++tick;
    }));
    await new Promise((resolve) => {
      life.done = resolve;
      life.client.disconnect();
    });
  }

  function check() {
    const result = { expected: 0, lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0 };
    for (const life of lives) {
      for (const [room, entry] of life.rooms) {
        const byStream = new Map();
        for (const m of messages.get(room) || []) {
          if (m.sender === life.id) continue;
          const must = m.sent > entry.joinAck && m.acked !== null && m.acked < entry.leaveSent;
          const may = m.sent < entry.leaveAck && (m.acked === null || m.acked > entry.joinSent);
          let stream = byStream.get(m.sender);
          if (!stream) byStream.set(m.sender, (stream = { must: new Set(), may: new Set() }));
          if (must) stream.must.add(m.seq);
          else if (may) stream.may.add(m.seq);
        }
        for (const [sender, stream] of byStream) {
          const got = life.got.get(`${room} ${sender}`) || [];
          const seen = new Set();
          let last = -1;
          for (const seq of got) {
            if (seen.has(seq)) result.duplicates++;
            else if (seq < last) result.outOfOrder++;
            if (!stream.must.has(seq) && !stream.may.has(seq)) result.unexpected++;
            seen.add(seq);
            last = Math.max(last, seq);
          }
          result.expected += stream.must.size;
          for (const seq of stream.must) if (!seen.has(seq)) result.lost++;
        }
        for (const [key] of life.got) {
          const [r, sender] = key.split(" ");
          if (r === room && !byStream.has(sender)) result.unexpected++;
        }
      }
    }
    return result;
  }

  async function finish() {
    stopping = true;
    const watchdog = setTimeout(() => {
      const state = lives.map((l) => ({ id: l.id, connected: l.client.connected,
        ended: l.client.ended, leaving: !!l.leaving, acks: l.client.acks.size }))
        .filter((l) => !l.ended);
      process.stderr.write(`stuck: ${pending.size} pending ${JSON.stringify(state.slice(0, 20))}\n`);
    }, 30000);
    watchdog.unref();
    await Promise.all([...pending]);
    const active = lives.filter((l) => l.client.connected);
    // Barrier: an ack on each connection comes after every broadcast the server wrote to it
    // before, and every message counted as due was acked (so broadcast) before this point.
    await Promise.all(active.map((l) => l.client.call("leave", "barrier")));
    const result = { ...stats, ...check(), connectedAtEnd: active.length };
    await Promise.all(active.map((l) => leaveAndGo(l)));
    await Promise.all(lives.filter((l) => !l.client.ended).map((l) => new Promise((resolve) => {
      l.done = resolve;
      l.client.disconnect();
    })));
    print(result);
    process.exit(0);
  }

  for (let i = 0; i < opts.clients; i++) setTimeout(start, (i * 1000) / Math.max(opts.clients, 1));
  setTimeout(() => finish().catch((e) => { print({ error: String(e) }); process.exit(1); }),
    opts.seconds * 1000);
}

({ fanout, hold, soak })[opts.mode]();
