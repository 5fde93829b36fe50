// The official Node client for the serve test: connects over WebSocket with a token given as
// argv[3], prints "connected", then prints how the server closed it: {"reason", "code"}.
const { io } = require("socket.io-client");

const socket = io(process.argv[2], {
  auth: { token: process.argv[3] },
  transports: ["websocket"],
  reconnection: false,
});
socket.on("connect", () => console.log("connected"));
socket.on("connect_error", (err) => {
  console.log(JSON.stringify({ error: err.message }));
  process.exit(1);
});
socket.on("disconnect", (reason, details) => {
  const code = details && details.context ? details.context.code : null;
  console.log(JSON.stringify({ reason, code }));
  process.exit(0);
});
