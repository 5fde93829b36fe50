"""The README's example app, run by the serve test: `roomcast serve tests.chat.example_app:io`."""

import os

from roomcast import Server, jwt_auth

io = Server()
io.use(jwt_auth(os.environ["ROOMCAST_JWT_SECRET"], ["HS256"]))


@io.on("connection")
def welcome(socket):
    socket.emit("hello", f"welcome, {socket.data['user']['name']}")


@io.on("shout")
def shout(socket, text):
    return text.upper()  # the return value answers the client's ack
