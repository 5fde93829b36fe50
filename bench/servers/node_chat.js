// Baseline: the chat of `roomcast serve` (roomcast/apps/chat.py) written for Node's socket.io 4.8, for the chat
// scenarios of bench/loadgen.js. HS256 tokens (secret: $ROOMCAST_JWT_SECRET) checked at every handshake, a room
// per user id, join/leave/message acked as the seed chat does, one log line per connection and disconnection.
// Usage: node bench/servers/node_chat.js PORT
"use strict";
const crypto = require("crypto");
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "..", "node_modules", "socket.io"));

const SECRET = process.env.ROOMCAST_JWT_SECRET;
if (!SECRET) throw new Error("set ROOMCAST_JWT_SECRET");
const MAX_MESSAGE = 10000;
const MAX_ROOM_NAME = 200;
const OK = { status: "ok" };

// HS256 verification (what jsonwebtoken's verify does for this algorithm): signature, exp, nbf.
function verify(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) throw new Error("jwt malformed");
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch {
    throw new Error("jwt malformed");
  }
  if (header.alg !== "HS256") throw new Error("invalid algorithm");
  const expected = crypto.createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const signature = Buffer.from(parts[2], "base64url");
  if (signature.length !== expected.length || !crypto.timingSafeEqual(signature, expected)) {
    throw new Error("invalid signature");
  }
  const now = Date.now() / 1000;
  if (typeof claims.exp === "number" && now >= claims.exp) throw new Error("jwt expired");
  if (typeof claims.nbf === "number" && now < claims.nbf) throw new Error("jwt not active");
  return claims;
}

function roomError(room) {
  if (typeof room !== "string") return "roomName must be a string";
  if (!room) return "roomName must not be empty";
  if (room.length > MAX_ROOM_NAME) return `roomName is longer than ${MAX_ROOM_NAME} characters`;
  return null;
}
const error = (text) => ({ status: "error", error: text });
const reply = (ack, value) => typeof ack === "function" && ack(value);

const port = Number(process.argv[2]);
const io = new Server({ serveClient: false });
io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  if (!auth.token) return next(new Error("missing token"));
  try {
    const user = verify(auth.token);
    if (user.id === undefined || user.id === "" || typeof user.id === "boolean") throw new Error("jwt has no user id");
    socket.data.user = user;
    next();
  } catch (err) {
    next(err);
  }
});
io.on("connection", (socket) => {
  const user = socket.data.user;
  const name = typeof user.name === "string" && user.name ? user.name : String(user.id);
  socket.join(String(user.id));
  console.error(`user ${user.id} (${name}) connected, socket ${socket.id}`);
  socket.on("disconnect", (reason) => console.error(`user ${user.id} disconnected, socket ${socket.id}: ${reason}`));
  socket.on("join", (room, ack) => {
    const err = roomError(room);
    if (!err) socket.join(room);
    reply(ack, err ? error(err) : OK);
  });
  socket.on("leave", (room, ack) => {
    const err = roomError(room);
    if (!err) socket.leave(room);
    reply(ack, err ? error(err) : OK);
  });
  socket.on("message", (payload, ack) => {
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      return reply(ack, error("payload must be an object with message and roomName"));
    }
    const { message, roomName } = payload;
    if (typeof message !== "string") return reply(ack, error("message must be a string"));
    if (message.length > MAX_MESSAGE) return reply(ack, error(`message is longer than ${MAX_MESSAGE} characters`));
    const err = roomError(roomName);
    if (err) return reply(ack, error(err));
    if (!socket.rooms.has(roomName)) return reply(ack, error("join the room before sending to it"));
    socket.to(roomName).emit("message", { name, id: user.id, message });
    reply(ack, OK);
  });
});
io.listen(port);
process.stdout.write("ready\n");
