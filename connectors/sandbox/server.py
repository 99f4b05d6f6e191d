"""A small HTTP framework for local vendor API emulators (the sandbox), on the standard library only.

Each vendor emulator is a subclass of ``SandboxApp`` that declares its routes and shapes its own
error bodies, rate-limit headers and webhook signatures; this module does everything else: serving
on 127.0.0.1 in a daemon thread, JSON helpers, an in-memory store under one lock, an effect counter,
fault injection, a sliding-window rate limiter and a webhook sender.

How a vendor emulator plugs in::

    from connectors.sandbox import register_emulator
    from connectors.sandbox.server import Request, Response, SandboxApp, SandboxError, route

    @register_emulator                      # so ``manage.py run_sandbox`` starts it
    class AcmeSandbox(SandboxApp):
        name = "acme"                       # registry key and log prefix
        default_port = 8810                 # the port ``run_sandbox`` uses unless told otherwise

        @route("GET", r"/api/things/(?P<thing_id>\\d+)")
        def get_thing(self, request: Request) -> Response:
            with self.lock:                 # every read or write of self.tables under the lock
                thing = self.tables["thing"].get(request.params["thing_id"])
            if thing is None:
                raise SandboxError(404, "No such thing", code="NOT_FOUND")
            return self.json(thing)

        @route("POST", r"/api/things")
        def create_thing(self, request: Request) -> Response:
            with self.lock:
                thing = {"id": self.next_id("thing"), **request.json()}
                self.tables["thing"][thing["id"]] = thing
                self.effect("create", "thing")   # count every state change, once, when applied
            self.emit_webhook({"type": "thing.created", "id": thing["id"]})
            return self.json(thing, status=201)

        # Optional hooks (defaults are generic):
        def error_body(self, status, message, code): ...       # the vendor's error JSON
        def rate_limit_headers(self, state): ...               # e.g. X-Acme-RateLimit-*
        def extra_headers(self, request, response): ...        # headers on every answer
        def sign_webhook(self, body): ...                      # headers carrying the signature
        def encode_webhook(self, event): ...                   # (body, content type); JSON by default
        def authenticate(self, request): ...                   # raise SandboxError(401, …) if bad
        def rate_limited_response(self, state): ...            # the vendor's "slow down" answer

Handlers raise ``SandboxError`` for vendor errors; anything else becomes a 500 in the vendor's shape.

Faults (``app.faults``, a ``FaultConfig``) are decided once per request from a seeded RNG: a 429 or
slow answer happens before the handler; a 5xx, a timeout (sleeping past the client's timeout) or a
dropped connection happens before the handler *or after it* (``after_effect`` is the share applied
after: the write took effect but its answer is lost), which is what exactly-once tests need.
``app.rate_limit`` (a ``RateLimiter``) emulates the vendor's published limit. Both can be changed at
runtime from Python or over HTTP on the control endpoints, which no vendor path can clash with:

    GET/POST /__sandbox/faults       read / replace the fault settings (JSON fields of FaultConfig)
    GET/POST /__sandbox/rate-limit   read / set {"max_requests": n, "window_seconds": s} (null: off)
    GET      /__sandbox/effects      {"effects": {"create task": 3, ...}, "responses": {...}}
    POST     /__sandbox/webhooks     {"url": ..., "duplicate_rate": 0.3, "shuffle": true}
    POST     /__sandbox/reset        empty the store, counters and faults

``start_sandbox(app)`` serves it and returns a ``RunningSandbox`` with ``.url`` and ``.stop()``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__sandbox/"


# Requests and responses ----------------------------------------------------------------------------
@dataclass
class Request:
    """One HTTP request as a handler sees it; ``params`` are the route's named regex groups."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON; a 400 ``SandboxError`` when it is not JSON."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SandboxError(400, f"Malformed JSON body: {exc}", code="MALFORMED_JSON") from None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``data`` as a JSON response (``None`` with 204 gives an empty body)."""
    body = b"" if data is None else json.dumps(data, default=str).encode()
    merged = {"Content-Type": "application/json;charset=UTF-8"} if body else {}
    merged.update(headers or {})
    return Response(status=status, body=body, headers=merged)


class SandboxError(Exception):
    """An error the vendor would answer; the app's ``error_body`` shapes it like the vendor does."""

    def __init__(
        self, status: int, message: str, *, code: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


Handler = Callable[[Any, Request], Response]

#: Comparisons for vendors' query filters; an absent value (None) is never greater or smaller.
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b,
    "<": lambda a, b: a is not None and a < b,
    "<=": lambda a, b: a is not None and a <= b,
}


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark a ``SandboxApp`` method as the handler of ``method`` on paths fully matching ``pattern``."""

    def mark(handler: Handler) -> Handler:
        routes = getattr(handler, "_sandbox_routes", [])
        routes.append((method.upper(), pattern))
        handler._sandbox_routes = routes  # type: ignore[attr-defined]
        return handler

    return mark


# Faults and rate limits ----------------------------------------------------------------------------
@dataclass
class FaultConfig:
    """Per-request fault probabilities (0..1) and their parameters; all zero means a healthy vendor."""

    server_error: float = 0.0
    server_error_status: int = 503
    rate_limited: float = 0.0
    #: Once a 429 is drawn, this many requests in a row get one (a burst).
    rate_limited_burst: int = 1
    retry_after: float = 1.0
    timeout: float = 0.0
    #: How long a timeout fault holds the request before answering (past the client's timeout).
    timeout_seconds: float = 2.0
    drop: float = 0.0
    #: Added to every request (a slow vendor), before the handler runs.
    slow_seconds: float = 0.0
    #: Share of 5xx / timeout / drop faults applied after the handler: the effect happened.
    after_effect: float = 0.0
    #: Faults apply only to paths matching this regex (``None``: all) and these methods (empty: all).
    path_pattern: str | None = None
    methods: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SandboxError(400, f"unknown fault settings: {', '.join(sorted(unknown))}", code="INVALID")
        values = dict(data)
        if "methods" in values:
            values["methods"] = tuple(m.upper() for m in values["methods"])
        return cls(**values)


@dataclass(frozen=True)
class FaultDecision:
    """What one request suffers: ``kind`` is "", "server_error", "rate_limited", "timeout" or "drop"."""

    kind: str = ""
    after_effect: bool = False


class FaultInjector:
    """Draws one ``FaultDecision`` per request from ``config`` with a seeded RNG (deterministic)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)  # noqa: S311 - fault draws, not secrets
            self._burst_left = 0
            self._pattern = re.compile(config.path_pattern) if config.path_pattern else None

    def decide(self, method: str, path: str) -> FaultDecision:
        with self._lock:
            cfg = self.config
            if cfg.methods and method not in cfg.methods:
                return FaultDecision()
            if self._pattern is not None and not self._pattern.search(path):
                return FaultDecision()
            if self._burst_left > 0:
                self._burst_left -= 1
                return FaultDecision("rate_limited")
            draw = self._rng.random()
            for kind, probability in (
                ("rate_limited", cfg.rate_limited),
                ("server_error", cfg.server_error),
                ("timeout", cfg.timeout),
                ("drop", cfg.drop),
            ):
                if draw < probability:
                    if kind == "rate_limited":
                        self._burst_left = max(cfg.rate_limited_burst - 1, 0)
                        return FaultDecision(kind)
                    return FaultDecision(kind, after_effect=self._rng.random() < cfg.after_effect)
                draw -= probability
            return FaultDecision()


@dataclass(frozen=True)
class RateLimitState:
    """The limiter's view after counting one request; ``retry_after`` is set when it was refused."""

    limit: int
    remaining: int
    window_seconds: float
    allowed: bool
    retry_after: float | None = None


class RateLimiter:
    """A sliding-window limit: at most ``max_requests`` in any ``window_seconds`` (refusals don't count)."""

    def __init__(
        self, max_requests: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self._clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def hit(self) -> RateLimitState:
        with self._lock:
            now = self._clock()
            while self._hits and self._hits[0] <= now - self.window_seconds:
                self._hits.popleft()
            if len(self._hits) >= self.max_requests:
                retry_after = self._hits[0] + self.window_seconds - now
                return RateLimitState(self.max_requests, 0, self.window_seconds, False, retry_after)
            self._hits.append(now)
            remaining = self.max_requests - len(self._hits)
            return RateLimitState(self.max_requests, remaining, self.window_seconds, True)


# Webhooks ------------------------------------------------------------------------------------------
def encode_json(event: Any) -> tuple[bytes, str]:
    return json.dumps(event, default=str).encode(), "application/json"


@dataclass
class WebhookDelivery:
    """One attempt to deliver an event: ``status`` is None when the receiver could not be reached."""

    event: Any
    status: int | None
    duplicate: bool


class WebhookEmitter:
    """Queues events and POSTs them from a sender thread, optionally duplicated and shuffled.

    Events wait up to ``batch_seconds`` so a shuffle has something to reorder; ``drain()`` blocks
    until everything queued so far was attempted. The app supplies ``sign(body) -> headers``.
    """

    def __init__(
        self,
        sign: Callable[[bytes], Mapping[str, str]],
        encode: Callable[[Any], tuple[bytes, str]] | None = None,
    ) -> None:
        self._sign = sign
        self._encode = encode or encode_json
        self._cond = threading.Condition()
        self._pending: list[Any] = []
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.url: str | None = None
        self.duplicate_rate = 0.0
        self.shuffle = False
        self.batch_seconds = 0.05
        self.timeout_seconds = 5.0
        self._rng = random.Random()  # noqa: S311 - delivery order, not secrets
        self.deliveries: list[WebhookDelivery] = []

    def configure(
        self,
        *,
        url: str | None,
        duplicate_rate: float = 0.0,
        shuffle: bool = False,
        batch_seconds: float = 0.05,
        seed: int | None = None,
    ) -> None:
        with self._cond:
            self.url = url
            self.duplicate_rate = duplicate_rate
            self.shuffle = shuffle
            self.batch_seconds = batch_seconds
            self._rng = random.Random(seed)  # noqa: S311 - delivery order, not secrets

    def emit(self, event: Any) -> None:
        """Queue ``event`` for delivery (dropped silently when no URL is configured, like a vendor)."""
        with self._cond:
            if self.url is None:
                return
            self._pending.append(event)
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was attempted; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            time.sleep(self.batch_seconds)  # let a batch gather so shuffling reorders it
            with self._cond:
                batch = [(event, False) for event in self._pending]
                self._pending.clear()
                batch += [(event, True) for event, _ in batch if self._rng.random() < self.duplicate_rate]
                if self.shuffle:
                    self._rng.shuffle(batch)
                self._in_flight = len(batch)
                url = self.url
            for event, duplicate in batch:
                status = self._post(url, event) if url else None
                with self._cond:
                    self.deliveries.append(WebhookDelivery(event, status, duplicate))
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _post(self, url: str, event: Any) -> int | None:
        body, content_type = self._encode(event)
        headers = {"Content-Type": content_type, **self._sign(body)}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError as exc:
            logger.warning("sandbox webhook to %s failed: %s", url, exc)
            return None


# The app -------------------------------------------------------------------------------------------
class SandboxApp:
    """A vendor emulator: routes, an in-memory store, counters, faults, a rate limit and webhooks."""

    #: Registry key (``connectors.sandbox.register_emulator``) and the port ``run_sandbox`` uses.
    name: ClassVar[str] = "sandbox"
    default_port: ClassVar[int] = 0
    _routes: ClassVar[list[tuple[str, re.Pattern[str], str]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: list[tuple[str, re.Pattern[str], str]] = []
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for method, pattern in getattr(value, "_sandbox_routes", ()):
                    routes.append((method, re.compile(pattern), attr))
        cls._routes = routes

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.base_url = ""
        self.faults = FaultInjector()
        self.rate_limit: RateLimiter | None = None
        self.webhooks = WebhookEmitter(self.sign_webhook, self.encode_webhook)
        self.reset()

    # State -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every record, count and fault (the rate limit setting stays)."""
        with self.lock:
            self.tables: defaultdict[str, dict[str, Any]] = defaultdict(dict)
            self.effects: Counter[tuple[str, str]] = Counter()
            self.responses: Counter[str] = Counter()
            self.request_count = 0
            self._ids: Counter[str] = Counter()
        self.faults.configure(FaultConfig())

    def next_id(self, kind: str) -> int:
        """1, 2, 3 … per ``kind``; callers format it the vendor's way."""
        with self.lock:
            self._ids[kind] += 1
            return self._ids[kind]

    def effect(self, verb: str, kind: str, n: int = 1) -> None:
        """Count ``n`` state changes the vendor applied (``("create", "task")`` …)."""
        with self.lock:
            self.effects[(verb, kind)] += n

    def emit_webhook(self, event: Any) -> None:
        self.webhooks.emit(event)

    # Vendor hooks ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        """The JSON the vendor answers with an error; override with the vendor's shape."""
        return {"status": status, "error": code or "error", "message": message}

    def error(
        self, status: int, message: str, code: str = "", headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(self.error_body(status, message, code), status=status, headers=headers)

    def rate_limit_headers(self, state: RateLimitState) -> dict[str, str]:
        """Headers reporting the rate limit on every answer; override with the vendor's names."""
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
        }

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        """Headers the vendor adds to every answer (usage counters, request ids …)."""
        return {}

    def sign_webhook(self, body: bytes) -> dict[str, str]:
        """Headers that sign a webhook body the vendor's way; unsigned by default."""
        return {}

    def encode_webhook(self, event: Any) -> tuple[bytes, str]:
        """A webhook event's body and content type: JSON by default (Salesforce sends SOAP XML)."""
        return encode_json(event)

    def authenticate(self, request: Request) -> None:
        """Raise ``SandboxError(401, …)`` when the request's credentials are wrong; open by default."""

    def rate_limited_response(self, state: RateLimitState) -> Response:
        """The answer to a request over the limit (``state.retry_after`` is set): 429 by default."""
        retry_after = state.retry_after or 1.0
        headers = {"Retry-After": str(max(1, round(retry_after))), **self.rate_limit_headers(state)}
        return self.error(429, "You have reached your rate limit.", "RATE_LIMITS", headers)

    def json(self, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return json_response(data, status=status, headers=headers)

    # Dispatch ----------------------------------------------------------------------------------
    def _find_route(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        path_known = False
        for route_method, pattern, attr in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            path_known = True
            if route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                return getattr(type(self), attr), params, True
        return None, {}, path_known

    def call_handler(self, request: Request) -> Response:
        """Run the route for ``request`` (no faults, no rate limit): vendor errors become responses."""
        handler, params, path_known = self._find_route(request.method, request.path)
        if handler is None:
            status = 405 if path_known else 404
            return self.error(status, f"{request.method} {request.path} is not supported", "NOT_FOUND")
        request.params = params
        try:
            self.authenticate(request)
            return handler(self, request)
        except SandboxError as exc:
            return self.error(exc.status, exc.message, exc.code, exc.headers)
        except Exception:
            logger.exception("sandbox %s handler failed", self.name)
            return self.error(500, "An unexpected error occurred", "UNKNOWN_EXCEPTION")

    def control(self, request: Request) -> Response:
        """The ``/__sandbox/`` endpoints: faults, rate limit, effect counts, webhooks, reset."""
        what = request.path[len(CONTROL_PREFIX) :].strip("/")
        if what == "faults":
            if request.method == "POST":
                self.faults.configure(FaultConfig.from_json(request.json()))
            return json_response(asdict(self.faults.config))
        if what == "rate-limit":
            if request.method == "POST":
                data = request.json()
                limit = data.get("max_requests")
                self.rate_limit = (
                    RateLimiter(int(limit), float(data.get("window_seconds", 10))) if limit else None
                )
            current = self.rate_limit
            return json_response(
                {
                    "max_requests": current.max_requests if current else None,
                    "window_seconds": current.window_seconds if current else None,
                }
            )
        if what == "effects":
            with self.lock:
                effects = {f"{verb} {kind}": n for (verb, kind), n in sorted(self.effects.items())}
                return json_response({"effects": effects, "responses": dict(self.responses)})
        if what == "webhooks" and request.method == "POST":
            data = request.json()
            self.webhooks.configure(
                url=data.get("url"),
                duplicate_rate=float(data.get("duplicate_rate", 0)),
                shuffle=bool(data.get("shuffle", False)),
                seed=data.get("seed"),
            )
            return json_response({"url": self.webhooks.url})
        if what == "reset" and request.method == "POST":
            self.reset()
            return json_response(None, status=204)
        return json_response({"error": f"unknown control endpoint {request.path}"}, status=404)


# Serving -------------------------------------------------------------------------------------------
class _Dropped(Exception):
    """Raised inside the request handler to close the socket without answering."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as vendors serve; every answer has Content-Length
    disable_nagle_algorithm = True  # small answers go out at once, not after the peer's delayed ACK
    server: _SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s: " + format, self.server.app.name, *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        if request.path.startswith(CONTROL_PREFIX):
            try:
                self._send(app.control(request))
            except SandboxError as exc:
                self._send(json_response({"error": exc.message}, status=exc.status))
            return
        try:
            response = self._respond(app, request)
        except _Dropped:
            self.close_connection = True
            with app.lock:
                app.responses["dropped"] += 1
            return
        with app.lock:
            app.responses[str(response.status)] += 1
        self._send(response)

    def _respond(self, app: SandboxApp, request: Request) -> Response:
        with app.lock:
            app.request_count += 1
        cfg = app.faults.config
        decision = app.faults.decide(request.method, request.path)
        if cfg.slow_seconds:
            self.server.pause(cfg.slow_seconds)
        if decision.kind == "rate_limited":
            return self._rate_limited(app, request, None, cfg.retry_after)
        state = app.rate_limit.hit() if app.rate_limit is not None else None
        if state is not None and not state.allowed:
            return self._rate_limited(app, request, state, state.retry_after or 1.0)
        if decision.kind and not decision.after_effect:
            return self._fault(app, decision, cfg)
        response = app.call_handler(request)
        if decision.kind:
            return self._fault(app, decision, cfg)  # the effect happened; its answer is lost
        if state is not None:
            response.headers.update(app.rate_limit_headers(state))
        response.headers.update(app.extra_headers(request, response))
        return response

    def _rate_limited(
        self, app: SandboxApp, request: Request, state: RateLimitState | None, retry_after: float
    ) -> Response:
        if state is None:
            limiter = app.rate_limit
            limit = limiter.max_requests if limiter else 100
            window = limiter.window_seconds if limiter else 10.0
            state = RateLimitState(limit, 0, window, False, retry_after)
        else:
            state = replace(state, retry_after=retry_after)
        response = app.rate_limited_response(state)
        response.headers.update(app.extra_headers(request, response))
        return response

    def _fault(self, app: SandboxApp, decision: FaultDecision, cfg: FaultConfig) -> Response:
        """A 5xx answer; a timeout (hold past the client's timeout) or a drop closes without one."""
        if decision.kind == "server_error":
            return app.error(
                cfg.server_error_status, "Service temporarily unavailable", "SERVICE_UNAVAILABLE"
            )
        if decision.kind == "timeout":
            self.server.pause(cfg.timeout_seconds)
        raise _Dropped

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout); nothing to do

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self) -> None:
        self._handle()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._stopping = threading.Event()
        super().__init__(address, _RequestHandler)

    def pause(self, seconds: float) -> None:
        """Sleep in a request thread, cut short when the server stops."""
        self._stopping.wait(seconds)


class RunningSandbox:
    """A served ``SandboxApp``: ``url`` to point a client at, ``stop()`` when done."""

    def __init__(self, app: SandboxApp, server: _SandboxServer, thread: threading.Thread, host: str) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.port = int(server.server_address[1])
        self.url = f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server._stopping.set()
        self.app.webhooks.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(app: SandboxApp, *, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Serve ``app`` on ``host:port`` (0: an ephemeral port) in a daemon thread."""
    server = _SandboxServer((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{app.name}", daemon=True
    )
    thread.start()
    running = RunningSandbox(app, server, thread, host)
    app.base_url = running.url
    return running
