# A slim image that runs `python -m app serve` as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=3000 DATABASE_URL=sqlite:////data/self-improve.db LOG_FORMAT=json
COPY --from=build /install /usr/local
WORKDIR /srv
COPY app.yml ./
COPY prompt_seeds ./prompt_seeds
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown app:app /data /srv  # /srv/.env is written by the registration page
USER app
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz')"]
CMD ["python", "-m", "app", "serve"]
