# The monolith's image; the gateway, the relay and the monolith's workers run from it too
# (docker-compose.yml and `carve export k8s` choose the command). Built from the repository:
#   docker build -t carve-monolith .
FROM python:3.12-slim
# NGINX, for a gateway whose plan says `[gateway] engine = "nginx"` (carve steers it).
RUN apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY migration ./migration
COPY monolith ./monolith
RUN pip install --no-cache-dir .
# The plan: bindings and transports. Databases, broker and service URLs come from the
# environment (DATABASE_URL, CARVE_BROKER_URL, CARVE_<MODULE>_URL), which override it.
COPY carve.toml ./
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
# Applies the local modules' migrations, then serves them with /healthz, /readyz, /metrics.
CMD ["carve", "run", "monolith", "--host", "0.0.0.0", "--port", "8000"]
