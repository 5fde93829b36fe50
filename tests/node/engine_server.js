// Reference Node engine.io 6 server for the differential tests.
// usage: node engine_server.js PORT [JSON options]; prints "ready" once listening.
// Every message is echoed back; a message "close" makes the server close the session, and "bye"
// makes it send "bye" and then close.
"use strict";
const path = require("path");
const http = require("http");
const ROOT = path.resolve(__dirname, "..", "..");
const engine = require(path.join(ROOT, "node_modules", "engine.io"));

const port = Number(process.argv[2]);
const options = Object.assign({ path: "/engine.io/" }, JSON.parse(process.argv[3] || "{}"));
if (options.allowRequestMessage !== undefined) {
  const message = options.allowRequestMessage;
  delete options.allowRequestMessage;
  options.allowRequest = (req, callback) => {
    if (req.headers["x-allow"] === "yes") callback(null, true);
    else callback(message, false);
  };
}
const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end("Not Found");
});
const server = engine.attach(httpServer, options);
server.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (data === "close") socket.close();
    else if (data === "bye") {
      socket.send("bye");
      socket.close();
    }
    else socket.send(data);
  });
});
httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write("ready\n");
});
