"""A minimal WebSocket client (RFC 6455) over the standard library's socket: enough for SparseLab's hub.

Client frames are masked (section 5.3); text and binary messages, fragmented ones reassembled; pings are
answered with pongs; close is a handshake (section 5.5.1). ws:// only (tunnel the hub over SSH across
machines, as the README says for workers). No extensions are negotiated.
"""

import base64
import hashlib
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class WebSocketError(Exception):
    """The connection failed or the peer broke the protocol."""


class ConnectionClosed(WebSocketError):
    """The peer closed the connection; code and reason are what its close frame said (1005 when none)."""

    def __init__(self, code, reason):
        super().__init__("connection closed (code %d%s)" % (code, ": " + reason if reason else ""))
        self.code = code
        self.reason = reason


def accept_key(key):
    """The Sec-WebSocket-Accept value a server must answer the client's key with."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def mask(payload, key):
    """payload XOR the 4-byte key repeated (masking and unmasking are the same)."""
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def encode_frame(opcode, payload, fin=True, masked=True, key=None):
    """One frame's bytes; a client's frames are masked with a fresh random key."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if not masked:
        return bytes(head) + payload
    key = key if key is not None else os.urandom(4)
    return bytes(head) + key + mask(payload, key)


class WebSocket:
    """A connected client. recv() returns whole messages; send_* may be called from any thread."""

    def __init__(self, sock, max_message_bytes=1 << 28):
        self._sock = sock
        self._send_lock = threading.Lock()
        self._buffer = bytearray()
        self._max = max_message_bytes
        self.closed = False
        self.close_code = None

    def settimeout(self, seconds):
        """Seconds a receive may wait (None: for ever); socket.timeout is raised past it."""
        self._sock.settimeout(seconds)

    # -- sending
    def _send(self, opcode, payload):
        frame = encode_frame(opcode, payload)
        with self._send_lock:
            if self.closed and opcode != OP_CLOSE:
                raise WebSocketError("the connection is closed")
            self._sock.sendall(frame)

    def send_binary(self, data):
        self._send(OP_BINARY, bytes(data))

    def send_text(self, text):
        self._send(OP_TEXT, text.encode("utf-8"))

    def ping(self, data=b""):
        self._send(OP_PING, data)

    def close(self, code=1000, reason=""):
        """Starts the closing handshake (or answers one) and closes the socket."""
        if self.closed:
            return
        try:
            self._send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:123])
        except OSError:
            pass
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._sock.close()

    # -- receiving
    def _read(self, n):
        while len(self._buffer) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                self.closed = True
                raise ConnectionClosed(1006, "the connection dropped without a close frame")
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def _read_frame(self):
        b0, b1 = self._read(2)
        if b0 & 0x70:
            raise WebSocketError("the server set reserved bits (no extension was negotiated)")
        if b1 & 0x80:
            raise WebSocketError("the server masked a frame (RFC 6455 5.1 forbids it)")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if n > self._max:
            raise WebSocketError("a frame of %d bytes exceeds the %d-byte limit" % (n, self._max))
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv(self):
        """The next message as (opcode, bytes): OP_TEXT or OP_BINARY. Raises ConnectionClosed at the close;
        a protocol violation fails the connection (close code 1002) and raises WebSocketError."""
        try:
            return self._recv_message()
        except ConnectionClosed:
            raise
        except (WebSocketError, UnicodeDecodeError) as e:
            self.close(1002, "protocol error")
            raise WebSocketError(str(e)) from e

    def _recv_message(self):
        parts = []
        opcode = None
        while True:
            fin, op, payload = self._read_frame()
            if op >= 0x8:
                if not fin or len(payload) > 125:
                    raise WebSocketError("a control frame must be whole and at most 125 bytes")
                if op == OP_PING:
                    self._send(OP_PONG, payload)
                elif op == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    reason = payload[2:].decode("utf-8", "replace")
                    self.close_code = code
                    self.close(code if code not in (1005, 1006) else 1000)
                    raise ConnectionClosed(code, reason)
                continue  # a pong
            if op == OP_CONTINUATION:
                if opcode is None:
                    raise WebSocketError("a continuation frame without a message to continue")
            elif opcode is not None:
                raise WebSocketError("a new message began inside a fragmented one")
            elif op in (OP_TEXT, OP_BINARY):
                opcode = op
            else:
                raise WebSocketError("unknown opcode %d" % op)
            parts.append(payload)
            if sum(len(p) for p in parts) > self._max:
                raise WebSocketError("a message exceeds the %d-byte limit" % self._max)
            if fin:
                data = b"".join(parts)
                if opcode == OP_TEXT:
                    data.decode("utf-8")  # raises on invalid UTF-8, as 8.1 requires
                return opcode, data


def connect(url, timeout=10.0, max_message_bytes=1 << 28):
    """Opens a WebSocket to ws://host:port/path (the opening handshake of section 4.1)."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise WebSocketError("%s: only ws:// URLs are supported (tunnel wss over SSH)" % url)
    if not parts.hostname:
        raise WebSocketError("%s: no host" % url)
    port = parts.port or 80
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    except OSError as e:
        raise WebSocketError("cannot connect to %s: %s" % (url, e)) from e
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    request = (
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)
    )
    try:
        sock.sendall(request.encode("ascii"))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise WebSocketError("%s closed the connection during the handshake" % url)
            response += chunk
            if len(response) > 65536:
                raise WebSocketError("%s sent an oversized handshake response" % url)
    except OSError as e:
        sock.close()
        raise WebSocketError("handshake with %s failed: %s" % (url, e)) from e
    head, _, rest = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if len(status) < 2 or status[1] != "101":
        sock.close()
        raise WebSocketError("%s refused the WebSocket upgrade: %s" % (url, lines[0]))
    if headers.get("sec-websocket-accept") != accept_key(key):
        sock.close()
        raise WebSocketError("%s answered with a wrong Sec-WebSocket-Accept" % url)
    sock.settimeout(None)
    ws = WebSocket(sock, max_message_bytes)
    ws._buffer += rest
    return ws
