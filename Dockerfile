# sso-broker: a small, non-root image. Build: docker build -t sso-broker .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY connectors ./connectors
COPY migrations ./migrations
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/sso-broker --create-home sso
COPY --from=build /install /usr/local
ENV SSO_DATA_DIR=/var/lib/sso-broker PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER sso
WORKDIR /var/lib/sso-broker
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# Migrations first (idempotent), then the server; several workers share nothing but the database.
CMD ["sh", "-c", "sso-broker migrate && exec sso-broker serve --host 0.0.0.0 --port 8000 --workers ${SSO_WORKERS:-2}"]
