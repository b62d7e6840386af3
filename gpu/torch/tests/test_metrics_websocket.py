"""The RFC 6455 client (sparselab_torch.websocket) against a scripted server on loopback.

The hub itself (Node's ws) is the other side in tests/unit/externalRun.test.ts; here a server written from
the RFC checks what the client sends (masking, the handshake) and sends what the hub seldom does
(fragments, pings, a close with a reason, protocol violations).
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package beside this folder

from sparselab_torch import websocket as ws

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_client_frame(conn):
    """(fin, opcode, payload, was_masked) of one client frame, unmasked."""
    b0, b1 = read_exactly(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exactly(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exactly(conn, 8))[0]
    masked = bool(b1 & 0x80)
    key = read_exactly(conn, 4) if masked else b""
    payload = read_exactly(conn, n)
    if masked:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload, masked


class Server:
    """Accepts one connection, answers the handshake (or not), then runs `script(conn)` in a thread."""

    def __init__(self, script, accept=True, wrong_key=False):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.url = "ws://127.0.0.1:%d/path" % self.listener.getsockname()[1]
        self.request = None
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(script, accept, wrong_key), daemon=True)
        self.thread.start()

    def _serve(self, script, accept, wrong_key):
        conn, _ = self.listener.accept()
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            self.request = request.decode("latin-1")
            if not accept:
                conn.sendall(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
                return
            key = [l.split(":", 1)[1].strip() for l in self.request.split("\r\n") if l.lower().startswith("sec-websocket-key")][0]
            answer = base64.b64encode(hashlib.sha1(((key + "x") if wrong_key else key + GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n" % answer).encode())
            script(conn)
        except Exception as e:  # reported by the test through join()
            self.error = e
        finally:
            conn.close()
            self.listener.close()

    def join(self):
        self.thread.join(5)
        if self.error:
            raise self.error


def server_frame(opcode, payload, fin=True):
    return ws.encode_frame(opcode, payload, fin=fin, masked=False)


class WebSocketTest(unittest.TestCase):
    def test_handshake_and_masked_frames_both_ways(self):
        received = []

        def script(conn):
            received.append(read_client_frame(conn))
            big = os.urandom(70000)  # the 64-bit length form
            conn.sendall(server_frame(ws.OP_BINARY, big))
            received.append(big)
            received.append(read_client_frame(conn))

        server = Server(script)
        client = ws.connect(server.url)
        client.send_binary(b"\x00hello")
        opcode, data = client.recv()
        client.send_text("x" * 300)  # the 16-bit length form
        server.join()
        client.close()
        self.assertIn("GET /path HTTP/1.1", server.request)
        self.assertIn("Sec-WebSocket-Version: 13", server.request)
        self.assertEqual(received[0], (True, ws.OP_BINARY, b"\x00hello", True))
        self.assertEqual((opcode, data), (ws.OP_BINARY, received[1]))
        self.assertEqual(received[2], (True, ws.OP_TEXT, b"x" * 300, True))

    def test_fragments_are_reassembled_and_pings_answered_in_between(self):
        pongs = []

        def script(conn):
            conn.sendall(server_frame(ws.OP_TEXT, b"hel", fin=False))
            conn.sendall(server_frame(ws.OP_PING, b"are you there"))
            conn.sendall(server_frame(ws.OP_CONTINUATION, b"lo", fin=True))
            pongs.append(read_client_frame(conn))

        server = Server(script)
        client = ws.connect(server.url)
        self.assertEqual(client.recv(), (ws.OP_TEXT, b"hello"))
        server.join()
        client.close()
        self.assertEqual(pongs[0], (True, ws.OP_PONG, b"are you there", True))

    def test_the_close_handshake_carries_code_and_reason(self):
        echoed = []

        def script(conn):
            conn.sendall(server_frame(ws.OP_CLOSE, struct.pack("!H", 4401) + b"wrong token"))
            echoed.append(read_client_frame(conn))

        server = Server(script)
        client = ws.connect(server.url)
        with self.assertRaises(ws.ConnectionClosed) as caught:
            client.recv()
        server.join()
        self.assertEqual((caught.exception.code, caught.exception.reason), (4401, "wrong token"))
        self.assertEqual(echoed[0][1], ws.OP_CLOSE)
        self.assertEqual(struct.unpack("!H", echoed[0][2][:2])[0], 4401)
        with self.assertRaises(ws.WebSocketError):
            client.send_binary(b"after close")

    def test_a_dropped_connection_is_reported(self):
        server = Server(lambda conn: None)
        client = ws.connect(server.url)
        server.join()
        with self.assertRaises(ws.ConnectionClosed) as caught:
            client.recv()
        self.assertEqual(caught.exception.code, 1006)

    def test_protocol_violations_are_refused(self):
        cases = [
            (ws.encode_frame(ws.OP_BINARY, b"x", masked=True), "masked a frame"),
            (server_frame(ws.OP_CONTINUATION, b"x"), "continuation frame without"),
            (bytes([0x80 | 0x40 | ws.OP_BINARY, 0]), "reserved bits"),
            (server_frame(0x3, b""), "unknown opcode"),
            (server_frame(ws.OP_PING, b"x" * 126), "control frame"),
        ]
        for frame, words in cases:
            server = Server(lambda conn, frame=frame: conn.sendall(frame))
            client = ws.connect(server.url)
            with self.assertRaises(ws.WebSocketError) as caught:
                client.recv()
            self.assertIn(words, str(caught.exception))
            server.join()

    def test_a_refused_upgrade_or_a_wrong_accept_key_fails_the_connect(self):
        server = Server(None, accept=False)
        with self.assertRaises(ws.WebSocketError) as caught:
            ws.connect(server.url)
        self.assertIn("426 Upgrade Required", str(caught.exception))
        server.join()
        server = Server(lambda conn: None, wrong_key=True)
        with self.assertRaises(ws.WebSocketError) as caught:
            ws.connect(server.url)
        self.assertIn("Sec-WebSocket-Accept", str(caught.exception))
        server.join()

    def test_urls_and_unreachable_hosts(self):
        with self.assertRaises(ws.WebSocketError):
            ws.connect("wss://127.0.0.1:1/")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with self.assertRaises(ws.WebSocketError) as caught:
            ws.connect("ws://127.0.0.1:%d/" % port, timeout=2)
        self.assertIn("cannot connect", str(caught.exception))

    def test_masking_is_its_own_inverse(self):
        key = b"\x01\x02\x03\x04"
        self.assertEqual(ws.mask(b"\x00\x00\x00\x00\x00", key), b"\x01\x02\x03\x04\x01")
        payload = os.urandom(1001)
        self.assertEqual(ws.mask(ws.mask(payload, key), key), payload)
        # RFC 6455 1.3's example.
        self.assertEqual(ws.accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


if __name__ == "__main__":
    unittest.main()
