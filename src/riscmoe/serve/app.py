"""The HTTP surface of the service (FastAPI on uvicorn) and ``riscmoe serve``.

Endpoints (JSON unless said otherwise; ``read`` and ``write`` are the token scopes, see
``riscmoe.serve.auth``):

- ``POST /predict`` (read): ``{"inputs": [[...], ...]}`` -> ``{"answers": [{"id", "label",
  "confidence", "member", "members_run", "ran"}], "system_version"}`` (``ran``: the members whose
  models ran on the input);
- ``POST /feedback`` (write): ``{"answers": [{"id", "label"}], "examples": {"inputs", "labels"},
  "client"}`` -> ``{"seq", "examples", "answers", "answers_right", "learned", "served"}``, sent
  once the feedback is on disk; ``?wait=true`` answers once it is learned;
- ``GET /members?offset=0&limit=100`` (read): the members, a page at a time;
- ``GET /health`` (open): counts and sequence numbers (accepted, learned, served);
- ``GET /`` (read; the token may come as ``?token=``): the page (``riscmoe.serve.page``);
- the functions domain: ``POST /solve`` (write), ``GET /members``, ``GET /health``, ``GET /``.

Bad input is answered 4xx with ``{"detail": "what was wrong"}`` and changes nothing; a body
over ``max_body`` bytes is refused with 413 before it is read whole.
"""

# (no "from __future__ import annotations": FastAPI reads the endpoints' annotations at run time)

import contextlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from riscmoe.serve.auth import AuthError, Tokens

DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes of one request's body


class _BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes with 413 (by its length, or as it streams in)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > self.limit or length < 0:
                    await _plain_error(send, 413 if length > self.limit else 400,
                                       f"the body is {value.decode(errors='replace')} bytes; at most {self.limit} per request")
                    return
        seen = 0
        refused = False

        async def limited() -> dict:
            # A body that streams past the limit (no length given, or a wrong one): 413 now, and
            # the application is told the client left, so it stops reading and changes nothing.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not started:
                        await _plain_error(send, 413, f"the body is over {self.limit} bytes; at most {self.limit} per request")
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except Exception:
            if not refused:
                raise  # (after a refusal: the application's complaint that the client left)


async def _plain_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(service: Any, tokens: Tokens, max_body: int = DEFAULT_MAX_BODY) -> Any:
    """The ASGI application over ``service`` (a ``RecognitionService`` or ``FunctionsService``)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    from riscmoe.serve import page
    from riscmoe.serve.service import RequestError

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        # Stopping (Ctrl-C, SIGTERM): what was queued is learned and checkpointed before the
        # process ends (uvicorn then ends it by the same signal).
        await run_in_threadpool(service.close)

    app = FastAPI(title="riscmoe", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service

    def allow(request: Request, scope: str, query_token: bool = False) -> None:
        header = request.headers.get("authorization")
        if header is None and query_token and request.query_params.get("token"):
            header = f"Bearer {request.query_params['token']}"
        try:
            tokens.check(scope, header)
        except AuthError as exc:
            raise HTTPException(exc.status, str(exc), headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    async def body_of(request: Request) -> Any:
        if "json" not in request.headers.get("content-type", "application/json"):
            raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")
        raw = await request.body()
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPException(400, f"the body is not valid JSON ({exc})") from None

    async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        except RequestError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    def page_args(request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HTTPException(422, f"{name} must be an integer, got {raw[:20]!r}") from None
        if not low <= value <= high:
            raise HTTPException(422, f"{name} must lie in [{low}, {high}], got {value}")
        return value

    @app.get("/health")
    async def health() -> Any:
        return service.health()

    @app.get("/members")
    async def members(request: Request) -> Any:
        allow(request, "read")
        offset = page_args(request, "offset", 0, 0, 10**9)
        limit = page_args(request, "limit", 100, 1, 1000)
        return await call(service.members, offset, limit)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> Any:
        allow(request, "read", query_token=True)
        number = page_args(request, "page", 1, 1, 10**9)
        html = await run_in_threadpool(page.render, service, number, request.query_params.get("token"))
        return HTMLResponse(html)

    if service.domain == "recognition":
        @app.post("/predict")
        async def predict(request: Request) -> Any:
            allow(request, "read")
            body = await body_of(request)
            if not isinstance(body, dict) or set(body) != {"inputs"}:
                raise HTTPException(422, "the body must be {\"inputs\": [[...], ...]} (a batch of inputs)")
            return await call(service.predict, body["inputs"])

        @app.post("/feedback")
        async def feedback(request: Request) -> Any:
            allow(request, "write")
            body = await body_of(request)
            wait = request.query_params.get("wait", "false").lower() in ("1", "true", "yes")
            return await call(service.feedback, body, wait)
    else:
        @app.post("/solve")
        async def solve(request: Request) -> Any:
            allow(request, "write")  # a solve may store new functions
            body = await body_of(request)
            return await call(service.solve, body)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    return _BodyLimit(app, max_body)


def open_service(path: str | os.PathLike, state: str | os.PathLike | None, **options: Any) -> Any:
    """The service for a saved system folder (recognition) or a functions library file (``.sqlite``)."""
    p = Path(path)
    if p.is_dir():
        from riscmoe.serve.service import RecognitionService

        state_dir = Path(state) if state is not None else p.with_name(p.name + ".serve")
        return RecognitionService(p, state_dir, **options)
    if p.is_file() or (not p.exists() and p.suffix == ".sqlite"):
        from riscmoe.serve.functions import FunctionsService

        return FunctionsService(p, max_batch=options.get("max_batch", 4096))
    raise ValueError(f"{path} is neither a saved system (a folder with manifest.json) nor a functions library file "
                     "(an existing file, or a new one ending in .sqlite)")


def serve(path: str, host: str = "127.0.0.1", port: int = 8000, state: str | None = None, tokens: Tokens | None = None,
          max_body: int = DEFAULT_MAX_BODY, **options: Any) -> int:
    """Load the system, then answer on ``host:port`` until stopped (Ctrl-C or SIGTERM); 0 on a clean stop."""
    import uvicorn

    tokens = tokens if tokens is not None else Tokens.load()
    # The address first: one taken is refused before the (possibly long) load.
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say
    # so, and without it each small answer waited for the client's delayed ACK (about 40 ms).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port} ({exc.strerror}); give another --port (0: a free one)") from None
    try:
        service = open_service(path, state, **options)
    except BaseException:
        sock.close()
        raise
    try:
        sock.listen(128)
        bound = sock.getsockname()[1]
        app = create_app(service, tokens, max_body)
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30,
                                h11_max_incomplete_event_size=64 * 1024)
        server = uvicorn.Server(config)
        scopes = ("read: " + ("token" if tokens.read else "open") + ", write: " + ("token" if tokens.write else "off (no write token)"))
        print(f"riscmoe serve: {service.domain} system {path}, {service.describe()}; {scopes}", file=sys.stderr, flush=True)
        print(f"riscmoe serve: listening on http://{host}:{bound}", flush=True)
        server.run(sockets=[sock])
    finally:
        service.close()
        sock.close()
    return 0
