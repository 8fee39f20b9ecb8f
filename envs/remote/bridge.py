#!/usr/bin/env python3
"""Serve a Python environment to curl-rl over the remote env protocol (PROTOCOL.md).

  python3 bridge.py --env gymnasium:make --env-id CartPole-v1 [--pixels] [--image-size 84]
  python3 bridge.py --env mymod:make_env [--kwargs '{"level": 2}'] [--pixels]
  python3 bridge.py --dmc cartpole:swingup [--image-size 84] [--camera 0] [--state]

Needs only `msgpack` and `numpy` (Debian: python3-msgpack python3-numpy).
gymnasium and dm_control are imported only when asked for.
Stdout and stdin belong to the protocol: anything the env prints goes to stderr.
"""
import argparse
import importlib
import json
import os
import struct
import sys
import traceback
import zlib

PROTOCOL_VERSION = 1
MAGIC = b"CRLP"
MAX_PAYLOAD = 256 * 1024 * 1024

try:
    import msgpack
    import numpy as np
except ImportError as exc:  # pragma: no cover - reported to the user through stderr
    sys.stderr.write(
        "curl-rl bridge: %s. Install with: apt-get install python3-msgpack python3-numpy "
        "(or pip install msgpack numpy) for the interpreter in --remote-cmd (%s)\n" % (exc, sys.executable)
    )
    sys.exit(2)


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------- channel


class Channel:
    """Length-prefixed msgpack frames on raw file descriptors."""

    def __init__(self, fd_in, fd_out):
        self.fd_in = fd_in
        self.fd_out = fd_out

    def _read_exact(self, n):
        chunks = []
        while n > 0:
            chunk = os.read(self.fd_in, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def recv(self):
        header = self._read_exact(8)
        if header is None:
            return None
        if header[:4] != MAGIC:
            raise ProtocolError("expected frame magic %r, got %r" % (MAGIC, header))
        (length,) = struct.unpack(">I", header[4:])
        if length > MAX_PAYLOAD:
            raise ProtocolError("frame length %d exceeds %d" % (length, MAX_PAYLOAD))
        payload = self._read_exact(length)
        if payload is None:
            raise ProtocolError("end of input in the middle of a frame")
        message = msgpack.unpackb(payload, raw=False)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError("a message must be a map with a string 'type'")
        return message

    def send(self, message):
        payload = msgpack.packb(message, use_bin_type=True)
        view = memoryview(MAGIC + struct.pack(">I", len(payload)) + payload)
        while view:
            written = os.write(self.fd_out, view)
            view = view[written:]

    def switch(self, fd_in, fd_out):
        """Carry the frames over other fds from now on (the local transport's FIFOs)."""
        self.fd_in, self.fd_out = fd_in, fd_out


def open_local(offer):
    """The local transport (PROTOCOL.md): open the client's FIFOs if this process
    can see them with the client's token in the request FIFO. Returns blocking
    (fd_in, fd_out), or None to stay on the pty (another host, another mount
    namespace, an unusable offer)."""
    if not isinstance(offer, dict):
        return None
    token, request, reply = offer.get("token"), offer.get("request"), offer.get("reply")
    if not (isinstance(token, str) and token and isinstance(request, str) and isinstance(reply, str)):
        return None
    fds = []
    try:
        # A non-blocking look first: an unknown FIFO must not hang the open or the read.
        probe = os.open(request, os.O_RDONLY | os.O_NONBLOCK)
        fds.append(probe)
        expected = token.encode("utf-8")
        if os.read(probe, len(expected)) != expected:
            raise OSError("not the client's FIFO")
        # Both opens return at once: the client holds each FIFO open for reading and writing.
        fd_in = os.open(request, os.O_RDONLY)
        fds.append(fd_in)
        fd_out = os.open(reply, os.O_WRONLY)
        os.close(probe)
        return fd_in, fd_out
    except OSError:
        for fd in fds:
            os.close(fd)
        return None


def take_over_stdio():
    """Keep fds 0/1 for the protocol; point Python's stdin/stdout elsewhere so a
    stray print() or input() in user code cannot corrupt the channel."""
    fd_in, fd_out = os.dup(0), os.dup(1)
    if os.isatty(fd_in):
        import termios
        import tty

        # 8-bit clean: no echo, no CR/LF translation, no signal characters.
        tty.setraw(fd_in, termios.TCSANOW)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return Channel(fd_in, fd_out)


# ---------------------------------------------------------------- arrays and spaces

_DTYPES = {"uint8": np.uint8, "int32": np.int32, "float32": np.float32, "float64": np.float64}


def wire_dtype(dtype):
    """Map any numpy dtype onto the four the protocol carries."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "uint8"
    if dtype.kind == "u" and dtype.itemsize == 1:
        return "uint8"
    if dtype.kind in "iu":
        return "int32"
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return "float32"
    if dtype.kind == "f":
        return "float64"
    raise ValueError("dtype %s cannot cross the protocol (uint8, int32, float32, float64)" % dtype)


def encode_array(array, dtype=None):
    array = np.asarray(array)
    name = dtype or wire_dtype(array.dtype)
    out = np.ascontiguousarray(array, dtype=np.dtype(_DTYPES[name]).newbyteorder("<"))
    return {"dtype": name, "shape": list(out.shape), "data": out.tobytes()}


class Compressor:
    """zlib level 1 for a client that accepts it (spec request accept_encoding), when
    it pays: under 90% of the raw size. After a miss (noise does not compress) the
    next 1, 2, 4 ... 64 arrays go raw untried. Mirrors ArrayCompressor in protocol.ts."""

    MIN_BYTES = 4096

    def __init__(self):
        self.skip = 0
        self.backoff = 1

    def encode(self, wire):
        if not isinstance(wire, dict) or "encoding" in wire or len(wire.get("data", b"")) < self.MIN_BYTES:
            return wire
        if self.skip > 0:
            self.skip -= 1
            return wire
        data = wire["data"]
        packed = zlib.compress(data, 1)
        if len(packed) < 0.9 * len(data):
            self.backoff = 1
            return dict(wire, data=packed, encoding="zlib")
        self.skip = self.backoff
        self.backoff = min(self.backoff * 2, 64)
        return wire


def decode_array(value):
    dtype = np.dtype(_DTYPES[value["dtype"]]).newbyteorder("<")
    return np.frombuffer(value["data"], dtype=dtype).reshape(value["shape"])


def encode_bound(value, shape):
    value = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    flat = value.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return encode_array(value, "float64")


def encode_space(space):
    """Duck-typed, so gymnasium's and gym's spaces work without importing either."""
    if hasattr(space, "n") and not hasattr(space, "low"):
        return {"kind": "discrete", "n": int(space.n)}
    if hasattr(space, "low") and hasattr(space, "high") and hasattr(space, "shape"):
        shape = tuple(int(d) for d in space.shape)
        return {
            "kind": "box",
            "shape": list(shape),
            "dtype": wire_dtype(space.dtype),
            "low": encode_bound(space.low, shape),
            "high": encode_bound(space.high, shape),
        }
    raise ValueError("unsupported space %r: only Box and Discrete cross the protocol" % (space,))


def plain(value, depth=0):
    """Info dicts may hold numpy values; make them msgpack-safe."""
    if depth > 8:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 1024 else encode_array(value)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return repr(value)


def resize_nearest(frame, size):
    frame = np.asarray(frame)
    if size is None or frame.shape[:2] == (size, size):
        return frame
    rows = (np.arange(size) * frame.shape[0] // size).astype(np.intp)
    cols = (np.arange(size) * frame.shape[1] // size).astype(np.intp)
    return frame[rows][:, cols]


# ---------------------------------------------------------------- adapters


class GymAdapter:
    """Any object with the Gymnasium API (reset(seed=, options=) -> (obs, info);
    step(a) -> 5-tuple), also the older gym 4-tuple step."""

    def __init__(self, env, name, pixels=False, image_size=None):
        self.env = env
        self.name = name
        self.pixels = pixels
        self.image_size = image_size
        self.action_space = env.action_space
        self._action_spec = encode_space(env.action_space)
        if pixels:
            self._obs_spec = self._pixel_spec()
        else:
            self._obs_spec = encode_space(env.observation_space)

    def _pixel_spec(self):
        if self.image_size:
            shape = [self.image_size, self.image_size, 3]
        else:
            # The frame size is only known from a frame: render once after a probe reset.
            self.env.reset(seed=0)
            shape = list(self._frame().shape)
        return {"kind": "box", "shape": shape, "dtype": "uint8", "low": 0.0, "high": 255.0}

    def _frame(self):
        frame = self.env.render()
        if frame is None:
            raise RuntimeError("render() returned None: create the env with render_mode='rgb_array' for --pixels")
        frame = resize_nearest(frame, self.image_size)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError("render() must return an HxWx3 rgb_array, got shape %s" % (frame.shape,))
        return frame

    def _obs(self, obs):
        if self.pixels:
            return encode_array(self._frame(), "uint8")
        return encode_array(obs, self._obs_spec["dtype"])

    def spec(self):
        return {"id": self.name, "observation_space": self._obs_spec, "action_space": self._action_spec}

    def reset(self, seed, options):
        out = self.env.reset(seed=seed, options=options) if options else self.env.reset(seed=seed)
        obs, info = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
        return self._obs(obs), info

    def step(self, action):
        if self._action_spec["kind"] == "discrete":
            action = int(action) + int(getattr(self.action_space, "start", 0))
        else:
            action = decode_array(action).astype(self.action_space.dtype)
        out = self.env.step(action)
        if len(out) == 5:
            obs, reward, terminated, truncated, info = out
        else:
            obs, reward, done, info = out
            truncated = bool(info.get("TimeLimit.truncated", False))
            terminated = bool(done) and not truncated
        return self._obs(obs), float(reward), bool(terminated), bool(truncated), info

    def render(self):
        frame = self.env.render()
        return None if frame is None else encode_array(resize_nearest(frame, self.image_size), "uint8")

    def close(self):
        close = getattr(self.env, "close", None)
        if close:
            close()


class DmcAdapter:
    """A DeepMind Control Suite task. Pixels by default (physics.render with the
    given camera); --state flattens the observation dict instead."""

    def __init__(self, domain, task, image_size=84, camera=0, pixels=True, seed=None):
        try:
            from dm_control import suite  # lazily: only --dmc needs it
        except ImportError as exc:
            raise ImportError("--dmc needs dm_control in this Python (%s): pip install dm_control (%s)" % (sys.executable, exc)) from exc

        self.suite = suite
        self.domain, self.task = domain, task
        self.image_size, self.camera, self.pixels = image_size, camera, pixels
        self.env = self._load(seed)
        spec = self.env.action_spec()
        self._action_spec = {
            "kind": "box",
            "shape": list(spec.shape),
            "dtype": "float32",
            "low": encode_bound(spec.minimum, spec.shape),
            "high": encode_bound(spec.maximum, spec.shape),
        }
        if pixels:
            self._obs_spec = {"kind": "box", "shape": [image_size, image_size, 3], "dtype": "uint8", "low": 0.0, "high": 255.0}
        else:
            size = sum(int(np.prod(s.shape)) for s in self.env.observation_spec().values())
            self._obs_spec = {"kind": "box", "shape": [size], "dtype": "float32", "low": float("-inf"), "high": float("inf")}

    def _load(self, seed):
        return self.suite.load(self.domain, self.task, task_kwargs={"random": seed})

    def _obs(self, time_step):
        if self.pixels:
            frame = self.env.physics.render(height=self.image_size, width=self.image_size, camera_id=self.camera)
            return encode_array(frame, "uint8")
        parts = [np.asarray(v, dtype=np.float64).reshape(-1) for v in time_step.observation.values()]
        return encode_array(np.concatenate(parts), "float32")

    def spec(self):
        return {"id": "dmc:%s-%s" % (self.domain, self.task), "observation_space": self._obs_spec, "action_space": self._action_spec}

    def reset(self, seed, options):
        if seed is not None:
            # dm_control seeds a task when it is built; a seeded reset rebuilds it.
            self.env.close()
            self.env = self._load(seed)
        return self._obs(self.env.reset()), {}

    def step(self, action):
        time_step = self.env.step(decode_array(action).astype(np.float64))
        reward = float(time_step.reward or 0.0)
        last = time_step.last()
        # A discount of 0 marks a true terminal; the time limit ends with discount 1.
        terminated = bool(last and time_step.discount == 0)
        truncated = bool(last and not terminated)
        return self._obs(time_step), reward, terminated, truncated, {}

    def render(self):
        frame = self.env.physics.render(height=self.image_size, width=self.image_size, camera_id=self.camera)
        return encode_array(frame, "uint8")

    def close(self):
        self.env.close()


def load_callable(spec):
    if ":" not in spec:
        raise SystemExit("curl-rl bridge: --env must be module:callable (e.g. gymnasium:make), got %r" % spec)
    module_name, attr = spec.split(":", 1)
    target = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def build_adapter(args):
    if args.dmc:
        domain, _, task = args.dmc.partition(":")
        if not task:
            raise SystemExit("curl-rl bridge: --dmc must be domain:task (e.g. cartpole:swingup), got %r" % args.dmc)
        return DmcAdapter(domain, task, image_size=args.image_size or 84, camera=args.camera, pixels=not args.state, seed=args.seed)
    factory = load_callable(args.env)
    kwargs = json.loads(args.kwargs) if args.kwargs else {}
    if (args.pixels and args.env.startswith("gymnasium:")) or args.render_mode:
        kwargs.setdefault("render_mode", args.render_mode or "rgb_array")
    positional = [args.env_id] if args.env_id else []
    env = factory(*positional, **kwargs)
    name = args.env_id or args.env
    return GymAdapter(env, name, pixels=args.pixels, image_size=args.image_size)


# ---------------------------------------------------------------- server


def serve(channel, adapter):
    handlers = {
        "spec": lambda m: adapter.spec(),
        "reset": lambda m: dict(zip(("observation", "info"), _reset(adapter, m))),
        "step": lambda m: dict(zip(("observation", "reward", "terminated", "truncated", "info"), _step(adapter, m))),
        "render": lambda m: {"frame": adapter.render()},
    }
    compressor = None  # set by a spec request that accepts zlib
    while True:
        local = None  # set by a spec request whose local transport this process can open
        message = channel.recv()
        if message is None:
            return
        kind, seq = message["type"], message.get("seq")
        if kind == "close":
            try:
                adapter.close()
            finally:
                channel.send({"type": "close", "seq": seq})
            return
        try:
            handler = handlers.get(kind)
            if handler is None:
                raise ValueError("unknown request type %r" % kind)
            if kind == "spec":
                local = open_local(message.get("local"))
                # A pipe takes a whole frame in one write: compression would only cost time there.
                compressor = Compressor() if local is None and "zlib" in (message.get("accept_encoding") or []) else None
            reply = handler(message)
            if compressor is not None:
                for key in ("observation", "frame"):
                    if reply.get(key) is not None:
                        reply[key] = compressor.encode(reply[key])
            if local is not None:
                reply["local"] = True
            reply.update(type=kind, seq=seq)
        except Exception as exc:  # the client decides whether the env is still usable
            reply = {"type": "error", "seq": seq, "error_type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
            if local is not None:
                for fd in local:
                    os.close(fd)
                local = None
        channel.send(reply)
        if local is not None:
            # Everything after the spec reply crosses the FIFOs; the pty carries nothing more.
            channel.switch(*local)


def _reset(adapter, message):
    obs, info = adapter.reset(message.get("seed"), message.get("options"))
    return obs, plain(info)


def _step(adapter, message):
    obs, reward, terminated, truncated, info = adapter.step(message["action"])
    return obs, reward, terminated, truncated, plain(info)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--env", help="module:callable returning a Gymnasium-API env, e.g. gymnasium:make")
    source.add_argument("--dmc", help="DeepMind Control task as domain:task, e.g. cartpole:swingup")
    parser.add_argument("--env-id", help="positional argument for the callable, e.g. CartPole-v1")
    parser.add_argument("--kwargs", help="JSON object of keyword arguments for the callable")
    parser.add_argument("--pixels", action="store_true", help="observations are render() rgb_array frames")
    parser.add_argument("--render-mode", help="render_mode keyword for the callable (default rgb_array with --pixels and gymnasium)")
    parser.add_argument("--image-size", type=int, help="square frame size (resized nearest-neighbour; dm_control renders at it)")
    parser.add_argument("--camera", type=int, default=0, help="dm_control camera id")
    parser.add_argument("--state", action="store_true", help="dm_control: flattened state observations instead of pixels")
    parser.add_argument("--seed", type=int, help="dm_control: seed the task is first built with")
    args = parser.parse_args(argv)

    channel = take_over_stdio()
    channel.send({"type": "hello", "protocol": PROTOCOL_VERSION, "server": "curl-rl python bridge (python %s)" % sys.version.split()[0]})
    adapter = None
    try:
        adapter = build_adapter(args)
    except BaseException as exc:
        # Answer the first request with the failure, so the client shows the traceback.
        text = traceback.format_exc()
        sys.stderr.write(text)
        message = channel.recv()
        if message is not None:
            channel.send({"type": "error", "seq": message.get("seq"), "error_type": type(exc).__name__, "message": "building the env failed: %s" % exc, "traceback": text})
        return 1
    try:
        serve(channel, adapter)
    except ProtocolError as exc:
        sys.stderr.write("curl-rl bridge: protocol error: %s\n" % exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
