# A first working image: build a wheel, install it into a slim image, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY jobs jobs
COPY storage storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 hearingwatch && mkdir /data && chown hearingwatch /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER hearingwatch
WORKDIR /data
# SQLite lives on the volume; point HEARINGWATCH_DATABASE__URL at PostgreSQL in production.
ENV HEARINGWATCH_DATABASE__URL=sqlite+aiosqlite:////data/hearing-watch.db \
    PYTHONUNBUFFERED=1
VOLUME /data
ENTRYPOINT ["hearing-watch"]
CMD ["run"]
