# Build wheels for the bot and everything it needs, then install exactly those into a slim image
# and run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY jobs jobs
COPY storage storage
COPY service service
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 hearingwatch && mkdir /data && chown hearingwatch /data
COPY --from=build /wheels /wheels
# --no-index: nothing but the wheels built above goes into the image.
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER hearingwatch
WORKDIR /data
# SQLite lives on the volume; point HEARINGWATCH_DATABASE__URL at PostgreSQL in production.
# The HTTP server (/healthz, /metrics, webhooks) listens on all of the container's interfaces.
ENV HEARINGWATCH_DATABASE__URL=sqlite+aiosqlite:////data/hearing-watch.db \
    HEARINGWATCH_SERVER__HOST=0.0.0.0 \
    HEARINGWATCH_SERVER__PORT=8080 \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8080
# 503 (database unreachable, a worker dead or stalled, Telegram out of reach) or no answer at all
# makes the container unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('HEARINGWATCH_SERVER__PORT', '8080')}/healthz\", timeout=9)"]
# SIGTERM stops receiving, lets the sends under way finish (up to 10 s) and records them, then
# releases the lock: allow 30 s (`docker stop --time 30`, `stop_grace_period: 30s`), not
# Docker's default 10 s, or a stop may cut sends short and a restart repeats them.
STOPSIGNAL SIGTERM
ENTRYPOINT ["hearing-watch"]
CMD ["run"]
